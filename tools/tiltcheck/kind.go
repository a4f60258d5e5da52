package main

// kind-config.yaml, read by kind's own code (sigs.k8s.io/kind, the version in go.mod).
//
// kind's config loader, sigs.k8s.io/kind/pkg/internal/apis/config/encoding.Load, is internal
// and cannot be imported. Two ways round that:
//
//  1. decodeKindConfig follows encoding.Load/Parse line by line (kind v0.33.0,
//     pkg/internal/apis/config/encoding/load.go): read kind/apiVersion, accept only
//     kind.x-k8s.io/v1alpha4 Cluster, decode strictly (go.yaml.in/yaml/v3 with KnownFields,
//     so an unknown or misspelt field fails), then apply v1alpha4.SetDefaultsCluster as
//     V1Alpha4ToInternal does. The public v1alpha4 types give the checks below their data.
//  2. kindCreateDryRun runs kind's real `create cluster` path (cluster.Provider.Create with
//     cluster.CreateWithConfigFile, the public entry to encoding.Load) against a stub `docker`
//     that answers kind's preflight (`docker info`, `docker ps`) and refuses everything else.
//     kind loads the file, applies defaults and runs its own validation (config.Validate:
//     roles, port mappings, subnets, ...) before its first provisioning command, so reaching
//     that command means kind accepted the config; a validation error is kind's own message.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/constants"
)

func decodeKindConfig(file string) (*v1alpha4.Cluster, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var tm struct {
		Kind       string `yaml:"kind,omitempty"`
		APIVersion string `yaml:"apiVersion,omitempty"`
	}
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return nil, fmt.Errorf("could not determine kind / apiVersion for config: %v", err)
	}
	if tm.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("unknown apiVersion: %s", tm.APIVersion)
	}
	if tm.Kind != "Cluster" {
		return nil, fmt.Errorf("unknown kind %s for apiVersion: %s", tm.Kind, tm.APIVersion)
	}
	cfg := &v1alpha4.Cluster{}
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(cfg); err != nil {
		return nil, fmt.Errorf("unable to decode config: %v", err)
	}
	v1alpha4.SetDefaultsCluster(cfg)
	if cfg.Name == "" {
		cfg.Name = constants.DefaultClusterName // as kind's internal defaulting does
	}
	return cfg, nil
}

// stubDocker answers what kind asks before provisioning and logs every call.
const stubDocker = `#!/bin/sh
printf '%%s\n' "$*" >>'%s'
case "$1" in
  info) echo '{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true,"CPUShares":true}' ;;
  ps) ;;
  inspect) ;;
  *) echo "tiltcheck: no container runtime here; kind stopped at: docker $*" >&2; exit 1 ;;
esac
`

// kindCreateDryRun returns the first provisioning command kind issued (proof that it loaded
// and validated the config) or kind's error.
func kindCreateDryRun(file string) (firstProvisioningCall string, nodeImages []string, err error) {
	tmp, err := os.MkdirTemp("", "tiltcheck-kind-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	logFile := filepath.Join(tmp, "docker.log")
	if err := os.WriteFile(filepath.Join(tmp, "docker"), []byte(fmt.Sprintf(stubDocker, logFile)), 0o755); err != nil {
		return "", nil, err
	}
	// kind execs `docker` through PATH; only the stub is on it while kind runs.
	oldPath := os.Getenv("PATH")
	os.Setenv("PATH", tmp)
	defer os.Setenv("PATH", oldPath)

	provider := cluster.NewProvider(cluster.ProviderWithDocker())
	createErr := provider.Create("", // no --name: the config's name (or kind's default) applies
		cluster.CreateWithConfigFile(file),
		cluster.CreateWithRetain(true), // on failure kind would otherwise "delete" the cluster and edit the kubeconfig
		cluster.CreateWithKubeconfigPath(filepath.Join(tmp, "kubeconfig")),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	)
	calls, _ := os.ReadFile(logFile)
	for _, c := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		switch {
		case c == "" || strings.HasPrefix(c, "info ") || strings.HasPrefix(c, "ps "):
		case strings.HasPrefix(c, "inspect --type=image "):
			nodeImages = append(nodeImages, strings.TrimPrefix(c, "inspect --type=image "))
		case firstProvisioningCall == "":
			firstProvisioningCall = "docker " + c
		}
	}
	if len(nodeImages) > 0 {
		return "docker inspect --type=image " + nodeImages[0], nodeImages, nil
	}
	if firstProvisioningCall != "" {
		return firstProvisioningCall, nil, nil
	}
	if createErr == nil {
		createErr = fmt.Errorf("kind returned without provisioning anything")
	}
	return "", nil, createErr
}

// kindChecks: the file loads, and provides what the Tiltfile's ingress-nginx setup (kind's
// ingress guide, https://kind.sigs.k8s.io/docs/user/ingress/) and allow_k8s_contexts need.
func kindChecks(r *report, file string, rec *recorded, tiltOK bool) {
	subject := filepath.Base(file)
	cfg, err := decodeKindConfig(file)
	if err != nil {
		r.fail(subject, "kind's loader (strict v1alpha4 decode) refuses it: "+oneLine(err.Error(), err))
	} else {
		r.ok(subject, fmt.Sprintf("decodes strictly as kind's encoding.Load does (%s %s, %d node(s))", cfg.APIVersion, cfg.Kind, len(cfg.Nodes)))
	}

	first, images, err := kindCreateDryRun(file)
	if err != nil {
		r.fail("kind create cluster --config "+subject, "kind refuses the config: "+oneLine(err.Error(), err))
	} else {
		what := "stopped at its first provisioning command, " + first
		if len(images) > 0 {
			what = fmt.Sprintf("stopped at provisioning, node image %s", images[0])
		}
		r.ok("kind create cluster --config "+subject, "kind's own loader and validation accept it ("+what+")")
	}
	if cfg == nil {
		return
	}

	var ingressNode *v1alpha4.Node
	for i := range cfg.Nodes {
		if cfg.Nodes[i].Labels["ingress-ready"] == "true" {
			ingressNode = &cfg.Nodes[i]
			break
		}
	}
	if ingressNode == nil {
		r.fail(subject, `no node has the label ingress-ready: "true" (kind's ingress-nginx deployment selects that node)`)
	} else {
		r.ok(subject, fmt.Sprintf(`the %s node has the label ingress-ready: "true"`, ingressNode.Role))
		var missing []string
		for _, port := range []int32{80, 443} {
			found := false
			for _, m := range ingressNode.ExtraPortMappings {
				if m.HostPort == port && m.ContainerPort == port && (m.Protocol == "" || m.Protocol == v1alpha4.PortMappingProtocolTCP) {
					found = true
				}
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%d", port))
			}
		}
		if len(missing) > 0 {
			r.fail(subject, fmt.Sprintf("the ingress-ready node does not map host port(s) %s to the same container port over TCP (ingress-nginx listens there; http://payments.localtest.me needs 80)", strings.Join(missing, ", ")))
		} else {
			r.ok(subject, "the ingress-ready node maps host ports 80 and 443 to the node (TCP)")
		}
	}

	// kind names the kubeconfig context kind-<cluster name>.
	context := "kind-" + cfg.Name
	if !tiltOK {
		return // the Tiltfile's failure is reported already; there are no contexts to compare
	}
	for _, c := range rec.contexts {
		if c == context {
			r.ok(subject, fmt.Sprintf("cluster name '%s' gives context '%s', which the Tiltfile allows (allow_k8s_contexts)", cfg.Name, context))
			return
		}
	}
	r.fail(subject, fmt.Sprintf("cluster name '%s' gives context '%s', but allow_k8s_contexts allows %s", cfg.Name, context, quoteList(rec.contexts)))
}
