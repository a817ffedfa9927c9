from .project import ProjectAssets, build_project_assets

__all__ = ["ProjectAssets", "build_project_assets"]
