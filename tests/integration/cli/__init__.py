"""CLI verbs against a moto CloudFormation stack."""
