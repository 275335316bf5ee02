"""Data rights: everything fanhub holds about a person (export) and erasing it."""
