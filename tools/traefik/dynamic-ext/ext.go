// Package ext is Traefik's extension point for dynamic configuration; it is
// empty in open-source Traefik and lives outside the module's zip.
package ext

type HTTP struct{}

type Router struct{}

type RouterIng struct{}

func (RouterIng) ToRouter() Router { return Router{} }
