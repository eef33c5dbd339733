"""The JSON Schemas, one per format (``<name>.schema.json``), shipped as package data.

Load them with ``dataprep.validate.schema.load_schema(name)``.
"""
