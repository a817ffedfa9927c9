"""What the tests share that is not a fixture: builders of test media, measuring helpers, reference maths."""
