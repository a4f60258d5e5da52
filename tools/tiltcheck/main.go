// tiltcheck executes a Tiltfile with recorders for Tilt's builtins, checks what it recorded
// against the objects `helm template` renders, the Dockerfile and the repository, and loads
// kind-config.yaml with kind's own code. It prints one line per check (`ok   ...` or
// `FAIL ...`) and exits 1 if any failed, 2 on a usage error. See README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	tiltfile := flag.String("tiltfile", "Tiltfile", "the Tiltfile to execute")
	dir := flag.String("dir", "", "directory relative paths in the Tiltfile resolve against (default: the Tiltfile's)")
	kindConfig := flag.String("kind-config", "kind-config.yaml", "kind cluster config, relative to -dir (\"\" to skip)")
	helm := flag.String("helm", envOr("PAYMENTS_HELM", "helm"), "helm binary (default $PAYMENTS_HELM, else helm on PATH)")
	verbose := flag.Bool("v", false, "log commands and notes to stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tiltcheck: unexpected arguments %v\n", flag.Args())
		os.Exit(2)
	}

	base := *dir
	if base == "" {
		base = filepath.Dir(*tiltfile)
	}
	base, err := filepath.Abs(base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tiltcheck: %v\n", err)
		os.Exit(2)
	}
	in := &interp{dir: base, helm: *helm, log: func(msg string) {
		if *verbose {
			fmt.Fprintf(os.Stderr, "tiltcheck: %s\n", msg)
		}
	}}
	r := &report{w: os.Stdout}
	tiltOK := tiltChecks(r, in, *tiltfile)
	if *kindConfig != "" {
		kindChecks(r, in.abs(*kindConfig), &in.rec, tiltOK)
	}
	fmt.Fprintf(os.Stderr, "tiltcheck: %d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
