"""Domain core: digests, paths, run directories, manifests, schemas, routes. No AWS, HTTP or CLI."""
