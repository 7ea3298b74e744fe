"""Per-type record builders, shared by the seed functions (``tracking``) and the instrumentors.

An explicit call and an instrumented one of the same kind set the same attributes the same
way because both build their record here; this layer imports ``recording`` and below, never
``tracking`` or ``instrumentation``.
"""
