"""The service layer: one set of use cases behind the API, the Lambdas and the local stack."""
