"""Secrets: folders per environment, sealed values with versions, reference expansion."""
