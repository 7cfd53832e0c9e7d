"""The offline stack: moto provisioned from ``template.yaml``, an event pump, a State Hub stand-in.

Nothing under ``src/`` or ``functions/`` imports this package; moto never ships to Lambda.
"""
