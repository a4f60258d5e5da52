// Executes the Tiltfile in a Starlark interpreter with recorders for Tilt's builtins and
// checks what it recorded against the rendered chart; loads kind-config.yaml with kind's
// own code. Built and run by scripts/test-tilt; see README.md in this directory.
module payments-platform/tools/tiltcheck

go 1.25.0

require (
	github.com/distribution/reference v0.6.0
	github.com/moby/patternmatcher v0.6.1
	go.starlark.net v0.0.0-20260908191801-89a6a09411d5
	go.yaml.in/yaml/v3 v3.0.6
	mvdan.cc/sh/v3 v3.13.1
	sigs.k8s.io/kind v0.33.0
)

require (
	al.essio.dev/pkg/shellescape v1.5.1 // indirect
	github.com/BurntSushi/toml v1.4.0 // indirect
	github.com/evanphx/json-patch/v5 v5.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/pelletier/go-toml v1.9.5 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/spf13/cobra v1.8.0 // indirect
	github.com/spf13/pflag v1.0.5 // indirect
	golang.org/x/sys v0.47.0 // indirect
	sigs.k8s.io/yaml v1.4.0 // indirect
)
