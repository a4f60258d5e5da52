package auth

// Added by scripts/traefik to github.com/abbot/go-http-auth v0.4.0: the two names Traefik's
// auth middlewares use from its fork (github.com/containous/go-http-auth), which the Go module
// proxy here does not serve. Same behaviour as the fork for the htpasswd formats v0.4.0 knows
// (bcrypt, {SHA}, MD5-crypt).

import "net/http"

// CheckSecret reports whether password matches secret, an htpasswd hash, with the comparison
// v0.4.0's BasicAuth.CheckAuth picks by the hash's prefix.
func CheckSecret(password, secret string) bool {
	compare := compareFuncs[0].compare
	for _, cmp := range compareFuncs[1:] {
		if len(secret) >= len(cmp.prefix) && secret[:len(cmp.prefix)] == cmp.prefix {
			compare = cmp.compare
			break
		}
	}
	return compare([]byte(secret), []byte(password)) == nil
}

// RequireAuthStale asks for the credentials again; the fork also marks the nonce stale, which
// only spares a digest client one prompt.
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) {
	a.RequireAuth(w, r)
}
