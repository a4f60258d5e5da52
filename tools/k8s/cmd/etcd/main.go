// Command etcd is the etcd server, identical to the upstream binary whose
// main package (module go.etcd.io/etcd/v3) only calls etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
