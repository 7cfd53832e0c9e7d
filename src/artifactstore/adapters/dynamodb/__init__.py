"""The catalog: package identity, state and files in DynamoDB (through PynamoDB)."""
