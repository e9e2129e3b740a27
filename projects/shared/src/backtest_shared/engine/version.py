"""Engine version; part of result cache keys. Array conventions: none."""

ENGINE_VERSION: str = "1.1.0"
