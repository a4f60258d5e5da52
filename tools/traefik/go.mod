// Pins Traefik for the cluster test's ingress controller; scripts/traefik builds it from this
// version's module source (see README.md). Nothing imports it: go.sum holds the module's hashes.
module payments-platform/tools/traefik

go 1.26.0

require github.com/traefik/traefik/v3 v3.7.13

// Traefik's auth middlewares use a fork of this (containous/go-http-auth) the proxy here does not
// serve; scripts/traefik builds with v0.4.0 plus go-http-auth/compat.go.
require github.com/abbot/go-http-auth v0.4.0
