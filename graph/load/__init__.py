"""Reading stack files: safe YAML with line marks, typed fields, matrices, one file's definitions."""
