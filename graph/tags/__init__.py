"""Tag conventions: the tag model, generic schemes, and the named vendor conventions."""
