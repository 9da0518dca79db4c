"""Hardware roles: one Protocol each, with a real driver and a simulator, chosen by config.

No hardware library is imported when this package (or any role package) is imported: each real
driver imports its library inside its own module, which is only loaded when config selects it.
"""
