package main

// The Tiltfile is executed by go.starlark.net, the interpreter Tilt itself embeds, with the
// builtins below in place of Tilt's. They are recorders: they check their arguments as Tilt
// does (same parameter names, positions and optional markers, so a misspelt keyword fails as
// it would in `tilt up`) and store what was asked for; only helm() has an effect (it runs
// `helm template`). The signatures follow Tilt's API reference, https://docs.tilt.dev/api.html,
// and the argument lists of Tilt's Go implementation (tilt-dev/tilt internal/tiltfile: the
// starlark.UnpackArgs calls in docker.go, files.go, k8s.go, local_resource.go, io/io.go,
// links/links.go, k8scontext/k8scontext.go).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Tilt's dialect: top-level if/for, while, set, recursion, reassigning globals
// (tilt-dev/tilt internal/tiltfile/starkit/environment.go, fileOptions).
var tiltFileOptions = &syntax.FileOptions{
	Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true,
}

// recorded is everything the Tiltfile asked Tilt to do.
type recorded struct {
	contexts     []string // allow_k8s_contexts
	entities     []*entity
	helmCalls    []helmCall
	dockerBuilds []dockerBuild
	locals       []localResource
	k8sResources []k8sResourceOpts
	watches      []string // watch_file, as written
}

type helmCall struct {
	chart, name, namespace string
	values, set            []string
	objects                int
}

type dockerBuild struct {
	ref, context, dockerfile string
	dockerfileSet            bool
	dockerfileContents       string
	only, ignore             []string
	pos                      syntax.Position
}

// shellCmd is a local_resource cmd/serve_cmd: a string runs with `sh -c`, a list is an argv
// (Tilt's model.ToHostCmd).
type shellCmd struct {
	script string
	argv   []string
}

func (c shellCmd) empty() bool { return c.script == "" && len(c.argv) == 0 }

type localResource struct {
	name          string
	cmd, serveCmd shellCmd
	dir           string // working directory of cmd ("" = the Tiltfile's)
	deps          []string
	resourceDeps  []string
	pos           syntax.Position
}

type k8sResourceOpts struct {
	workload, newName string
	manuallyGrouped   bool
	portForwards      []portForward
	resourceDeps      []string
	objects           []string
	pos               syntax.Position
}

// interp executes one Tiltfile. Relative paths resolve against dir, as Tilt resolves them
// against the Tiltfile's directory; dir may differ from the Tiltfile's (self-tests run a
// modified copy of the Tiltfile against the repository).
type interp struct {
	dir  string
	helm string // helm binary
	rec  recorded
	log  func(string)
}

func (in *interp) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(in.dir, p)
}

// exec runs the Tiltfile; the error is Starlark's (with the position) or a builtin's.
func (in *interp) exec(tiltfile string) error {
	src, err := os.ReadFile(tiltfile)
	if err != nil {
		return err
	}
	thread := &starlark.Thread{
		Name:  "Tiltfile",
		Print: func(_ *starlark.Thread, msg string) { in.log("Tiltfile print: " + msg) },
		Load:  in.load,
	}
	_, err = starlark.ExecFileOptions(tiltFileOptions, thread, tiltfile, src, in.predeclared())
	// One line: the innermost Tiltfile position and the message (the backtrace goes to -v).
	switch e := err.(type) {
	case *starlark.EvalError:
		in.log(e.Backtrace())
		for i := len(e.CallStack) - 1; i >= 0; i-- {
			if pos := e.CallStack[i].Pos; pos.Filename() != "" && pos.Filename() != "<builtin>" {
				return fmt.Errorf("%s: %s", shortPos(pos), e.Msg)
			}
		}
		return fmt.Errorf("%s", e.Msg)
	case syntax.Error:
		return fmt.Errorf("%s: %s", shortPos(e.Pos), e.Msg)
	}
	return err
}

// shortPos is file:line:col with the file's base name (self-tests run copies in temp dirs).
func shortPos(pos syntax.Position) string {
	return fmt.Sprintf("%s:%d:%d", filepath.Base(pos.Filename()), pos.Line, pos.Col)
}

func (in *interp) predeclared() starlark.StringDict {
	b := func(name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin(name, fn)
	}
	return starlark.StringDict{
		"allow_k8s_contexts":  b("allow_k8s_contexts", in.allowK8sContexts),
		"local_resource":      b("local_resource", in.localResource),
		"docker_build":        b("docker_build", in.dockerBuild),
		"k8s_yaml":            b("k8s_yaml", in.k8sYaml),
		"helm":                b("helm", in.helmFn),
		"k8s_resource":        b("k8s_resource", in.k8sResource),
		"link":                b("link", linkFn),
		"port_forward":        b("port_forward", portForwardFn),
		"watch_file":          b("watch_file", in.watchFile),
		"blob":                b("blob", blobFn),
		"fail":                b("fail", failFn),
		"TRIGGER_MODE_AUTO":   triggerMode("TRIGGER_MODE_AUTO"),
		"TRIGGER_MODE_MANUAL": triggerMode("TRIGGER_MODE_MANUAL"),
	}
}

// load serves Tilt extensions. Only the ones the Tiltfile uses are implemented; any other
// fails, so a new load() is noticed here.
func (in *interp) load(_ *starlark.Thread, module string) (starlark.StringDict, error) {
	switch module {
	case "ext://namespace":
		return starlark.StringDict{
			"namespace_create": starlark.NewBuiltin("namespace_create", in.namespaceCreate),
		}, nil
	}
	return nil, fmt.Errorf("load(%q): not implemented by tiltcheck (add a recorder in tools/tiltcheck/tilt.go)", module)
}

// Tilt drops chart tests from helm()'s output (helm.go, filterHelmTestYAML).
var helmTestDoc = regexp.MustCompile(`(?m)^# Source: .*/tests/`)

// ---------------------------------------------------------------- value types

// blob is Tilt's Blob: text (YAML, command output) as opposed to a path. helm()'s blob also
// carries its objects, already given the release namespace.
type blob struct {
	text, source string
	entities     []*entity
}

func (b *blob) String() string        { return b.text }
func (b *blob) Type() string          { return "blob" }
func (b *blob) Freeze()               {}
func (b *blob) Truth() starlark.Bool  { return b.text != "" }
func (b *blob) Hash() (uint32, error) { return starlark.String(b.text).Hash() }

type triggerMode string

func (t triggerMode) String() string        { return string(t) }
func (t triggerMode) Type() string          { return "TriggerMode" }
func (t triggerMode) Freeze()               {}
func (t triggerMode) Truth() starlark.Bool  { return true }
func (t triggerMode) Hash() (uint32, error) { return starlark.String(t).Hash() }

type link struct{ url, name string }

func (l link) String() string        { return fmt.Sprintf("link(%q, %q)", l.url, l.name) }
func (l link) Type() string          { return "link" }
func (l link) Freeze()               {}
func (l link) Truth() starlark.Bool  { return true }
func (l link) Hash() (uint32, error) { return starlark.String(l.url).Hash() }

// portForward is one port_forwards entry; containerPort 0 means "not given" (Tilt then
// forwards from localPort if the container exposes it, else from its first port).
type portForward struct {
	spec                     string
	localPort, containerPort int
}

func (p portForward) String() string        { return p.spec }
func (p portForward) Type() string          { return "port_forward" }
func (p portForward) Freeze()               {}
func (p portForward) Truth() starlark.Bool  { return true }
func (p portForward) Hash() (uint32, error) { return starlark.String(p.spec).Hash() }

// ---------------------------------------------------------------- argument helpers

// strOrList accepts a string or a list/tuple of strings (Tilt's value.StringOrStringList).
func strOrList(fn, param string, v starlark.Value) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	if s, ok := starlark.AsString(v); ok {
		return []string{s}, nil
	}
	seq, ok := v.(starlark.Sequence)
	if !ok {
		return nil, fmt.Errorf("%s: for parameter %s: got %s, want string or list of strings", fn, param, v.Type())
	}
	var out []string
	it := seq.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return nil, fmt.Errorf("%s: for parameter %s: element %s is a %s, want string", fn, param, x, x.Type())
		}
		out = append(out, s)
	}
	return out, nil
}

// seqOf flattens a value or a list of values (Tilt's starlarkValueOrSequenceToSlice).
func seqOf(v starlark.Value) []starlark.Value {
	if v == nil || v == starlark.None {
		return nil
	}
	if _, isStr := v.(starlark.String); !isStr {
		if seq, ok := v.(starlark.Sequence); ok {
			var out []starlark.Value
			it := seq.Iterate()
			defer it.Done()
			var x starlark.Value
			for it.Next(&x) {
				out = append(out, x)
			}
			return out
		}
	}
	return []starlark.Value{v}
}

func callerPos(thread *starlark.Thread) syntax.Position { return thread.CallFrame(1).Pos }

// ---------------------------------------------------------------- builtins

// allow_k8s_contexts(contexts) https://docs.tilt.dev/api.html#api.allow_k8s_contexts
func (in *interp) allowK8sContexts(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var contexts starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "contexts", &contexts); err != nil {
		return nil, err
	}
	list, err := strOrList(fn.Name(), "contexts", contexts)
	if err != nil {
		return nil, err
	}
	in.rec.contexts = append(in.rec.contexts, list...)
	return starlark.None, nil
}

// namespace_create(name, allow_duplicates=False, annotations=[], labels=[]) from
// load('ext://namespace', ...): the tilt-extensions `namespace` extension
// (https://github.com/tilt-dev/tilt-extensions/tree/master/namespace), which passes a
// Namespace object to k8s_yaml. Annotations/labels are "key: value" strings there.
func (in *interp) namespaceCreate(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var allowDuplicates bool
	var annotations, labels starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"name", &name, "allow_duplicates?", &allowDuplicates,
		"annotations?", &annotations, "labels?", &labels); err != nil {
		return nil, err
	}
	if _, err := strOrList(fn.Name(), "annotations", annotations); err != nil {
		return nil, err
	}
	if _, err := strOrList(fn.Name(), "labels", labels); err != nil {
		return nil, err
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}
	return starlark.None, in.addEntities([]*entity{newEntity(obj, "namespace_create")}, allowDuplicates)
}

// local_resource(name, cmd=”, deps=None, trigger_mode=TRIGGER_MODE_AUTO, resource_deps=[],
// ignore=[], auto_init=True, serve_cmd=”, cmd_bat=”, serve_cmd_bat=”, allow_parallel=False,
// links=[], labels=[], env={}, serve_env={}, readiness_probe=None, dir=”, serve_dir=”)
// https://docs.tilt.dev/api.html#api.local_resource
func (in *interp) localResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var cmd, deps, triggerModeV, resourceDeps, ignore, serveCmd, cmdBat, serveCmdBat, links, labels,
		env, serveEnv, readinessProbe, dir, serveDir starlark.Value
	autoInit, allowParallel := true, false
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"name", &name,
		"cmd?", &cmd,
		"deps?", &deps,
		"trigger_mode?", &triggerModeV,
		"resource_deps?", &resourceDeps,
		"ignore?", &ignore,
		"auto_init?", &autoInit,
		"serve_cmd?", &serveCmd,
		"cmd_bat?", &cmdBat,
		"serve_cmd_bat?", &serveCmdBat,
		"allow_parallel?", &allowParallel,
		"links?", &links,
		"labels?", &labels,
		"env?", &env,
		"serve_env?", &serveEnv,
		"readiness_probe?", &readinessProbe,
		"dir?", &dir,
		"serve_dir?", &serveDir,
	); err != nil {
		return nil, err
	}
	if err := checkTriggerMode(fn.Name(), triggerModeV); err != nil {
		return nil, err
	}
	r := localResource{name: name, pos: callerPos(thread)}
	var err error
	if r.cmd, err = toShellCmd(fn.Name(), "cmd", cmd); err != nil {
		return nil, err
	}
	if r.serveCmd, err = toShellCmd(fn.Name(), "serve_cmd", serveCmd); err != nil {
		return nil, err
	}
	if r.cmd.empty() && r.serveCmd.empty() {
		return nil, fmt.Errorf("local_resource must have a cmd and/or a serve_cmd, but both were empty")
	}
	if dir != nil {
		if r.dir, err = asString(fn.Name(), "dir", dir); err != nil {
			return nil, err
		}
	}
	if r.deps, err = strOrList(fn.Name(), "deps", deps); err != nil {
		return nil, err
	}
	if r.resourceDeps, err = strOrList(fn.Name(), "resource_deps", resourceDeps); err != nil {
		return nil, err
	}
	if _, err = strOrList(fn.Name(), "labels", labels); err != nil {
		return nil, err
	}
	if err = checkLinks(fn.Name(), links); err != nil {
		return nil, err
	}
	for _, l := range in.rec.locals {
		if l.name == name {
			return nil, fmt.Errorf("local_resource named %q already exists", name)
		}
	}
	in.rec.locals = append(in.rec.locals, r)
	return starlark.None, nil
}

func asString(fn, param string, v starlark.Value) (string, error) {
	s, ok := starlark.AsString(v)
	if !ok {
		return "", fmt.Errorf("%s: for parameter %s: got %s, want string", fn, param, v.Type())
	}
	return s, nil
}

func toShellCmd(fn, param string, v starlark.Value) (shellCmd, error) {
	if v == nil || v == starlark.None {
		return shellCmd{}, nil
	}
	if s, ok := starlark.AsString(v); ok {
		return shellCmd{script: s}, nil
	}
	argv, err := strOrList(fn, param, v)
	return shellCmd{argv: argv}, err
}

func checkTriggerMode(fn string, v starlark.Value) error {
	if v == nil {
		return nil
	}
	if _, ok := v.(triggerMode); !ok {
		return fmt.Errorf("%s: for parameter trigger_mode: got %s, want TRIGGER_MODE_AUTO or TRIGGER_MODE_MANUAL", fn, v.Type())
	}
	return nil
}

// links: a URL string, a link(), or a list of those (Tilt's links.LinkList).
func checkLinks(fn string, v starlark.Value) error {
	for _, x := range seqOf(v) {
		switch x.(type) {
		case starlark.String, link:
		default:
			return fmt.Errorf("%s: for parameter links: got %s, want string or link", fn, x.Type())
		}
	}
	return nil
}

// docker_build(ref, context, build_args={}, dockerfile='Dockerfile', dockerfile_contents=”,
// live_update=[], match_in_env_vars=False, ignore=[], only=[], entrypoint=[], target=”, ssh=”,
// network=”, secret=”, extra_tag=”, container_args=None, cache_from=[], pull=False,
// platform=”, extra_hosts=[]) https://docs.tilt.dev/api.html#api.docker_build
// (plus the obsolete `cache`, still accepted by Tilt with a warning).
func (in *interp) dockerBuild(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ref, context, target string
	var buildArgs, dockerfile, dockerfileContents, cache, liveUpdate, ignore, only, entrypoint,
		containerArgs, ssh, secret, network, extraTag, cacheFrom, platform, extraHosts starlark.Value
	var matchInEnvVars, pull bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"ref", &ref,
		"context", &context,
		"build_args?", &buildArgs,
		"dockerfile??", &dockerfile,
		"dockerfile_contents?", &dockerfileContents,
		"cache?", &cache,
		"live_update?", &liveUpdate,
		"match_in_env_vars?", &matchInEnvVars,
		"ignore?", &ignore,
		"only?", &only,
		"entrypoint?", &entrypoint,
		"container_args?", &containerArgs,
		"target?", &target,
		"ssh?", &ssh,
		"secret?", &secret,
		"network?", &network,
		"extra_tag?", &extraTag,
		"cache_from?", &cacheFrom,
		"pull?", &pull,
		"platform?", &platform,
		"extra_hosts?", &extraHosts,
	); err != nil {
		return nil, err
	}
	if _, err := parseImageRef(ref); err != nil {
		return nil, fmt.Errorf("Argument 1 (ref): can't parse %q: %v", ref, err)
	}
	d := dockerBuild{ref: ref, context: context, pos: callerPos(thread)}
	var err error
	if dockerfile != nil && dockerfileContents != nil {
		return nil, fmt.Errorf("Cannot specify both dockerfile and dockerfile_contents keyword arguments")
	}
	if dockerfile != nil {
		if d.dockerfile, err = asString(fn.Name(), "dockerfile", dockerfile); err != nil {
			return nil, err
		}
		d.dockerfileSet = true
	} else if dockerfileContents != nil {
		d.dockerfileContents = dockerfileContents.String()
		if s, ok := starlark.AsString(dockerfileContents); ok {
			d.dockerfileContents = s
		}
	}
	if d.only, err = strOrList(fn.Name(), "only", only); err != nil {
		return nil, err
	}
	if d.ignore, err = strOrList(fn.Name(), "ignore", ignore); err != nil {
		return nil, err
	}
	in.rec.dockerBuilds = append(in.rec.dockerBuilds, d)
	return starlark.None, nil
}

// k8s_yaml(yaml, allow_duplicates=False): yaml is a path, a blob (e.g. helm()'s result) or a
// list of those. https://docs.tilt.dev/api.html#api.k8s_yaml
func (in *interp) k8sYaml(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var yamlV starlark.Value
	var allowDuplicates bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "yaml", &yamlV, "allow_duplicates?", &allowDuplicates); err != nil {
		return nil, err
	}
	values := seqOf(yamlV)
	if len(values) == 0 {
		return nil, fmt.Errorf("k8s_yaml: empty YAML")
	}
	var all []*entity
	for _, v := range values {
		var text, source string
		switch v := v.(type) {
		case *blob:
			if v.entities != nil {
				all = append(all, v.entities...)
				continue
			}
			text, source = v.text, v.source
		case starlark.String:
			// A string is a path (Tilt's yamlEntitiesFromSkylarkValue): read the file.
			bs, err := os.ReadFile(in.abs(string(v)))
			if err != nil {
				return nil, fmt.Errorf("k8s_yaml: error reading yaml file: %v", err)
			}
			text, source = string(bs), "file: "+string(v)
		default:
			return nil, fmt.Errorf("k8s_yaml: want a path, a blob or a list of those, got %s", v.Type())
		}
		es, err := parseYAMLStream(text, source)
		if err != nil {
			return nil, fmt.Errorf("k8s_yaml: %s: %v", source, err)
		}
		all = append(all, es...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("k8s_yaml: empty YAML")
	}
	return starlark.None, in.addEntities(all, allowDuplicates)
}

// addEntities refuses an object registered twice (Tilt's k8s.State.Append).
func (in *interp) addEntities(es []*entity, allowDuplicates bool) error {
	for _, e := range es {
		for _, old := range in.rec.entities {
			if old.address() == e.address() && !allowDuplicates {
				return fmt.Errorf("Duplicate YAML Entity: %s %s (Namespace: %s) has been detected across one or more resources", e.kind, e.name, e.namespace)
			}
		}
		in.rec.entities = append(in.rec.entities, e)
	}
	return nil
}

// helm(paths, name=”, namespace=”, values=[], set=[], kube_version=”, skip_crds=False)
// https://docs.tilt.dev/api.html#api.helm. Runs what Tilt runs (files.go, helm()):
// `helm template <name> <chart> [--namespace ns] --include-crds [--values f]... [--set s]...`
// in the Tiltfile's directory, drops chart tests (`# Source: .../tests/`) and gives every
// object without a namespace the release namespace.
func (in *interp) helmFn(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var chart, name, namespace, kubeVersion string
	var values, set starlark.Value
	var skipCRDs bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"paths", &chart, "name?", &name, "namespace?", &namespace, "values?", &values,
		"set?", &set, "kube_version?", &kubeVersion, "skip_crds?", &skipCRDs); err != nil {
		return nil, err
	}
	h := helmCall{chart: chart, name: name, namespace: namespace}
	var err error
	if h.values, err = strOrList(fn.Name(), "values", values); err != nil {
		return nil, err
	}
	if h.set, err = strOrList(fn.Name(), "set", set); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(in.abs(chart)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("Could not read Helm chart directory %q: not a directory", chart)
	}
	if name == "" {
		name = "chart" // Tilt's default release name
	}
	argv := []string{"template", name, in.abs(chart)}
	if namespace != "" {
		argv = append(argv, "--namespace", namespace)
	}
	if kubeVersion != "" {
		argv = append(argv, "--kube-version", kubeVersion)
	}
	if !skipCRDs {
		argv = append(argv, "--include-crds")
	}
	for _, v := range h.values {
		argv = append(argv, "--values", v)
	}
	for _, s := range h.set {
		argv = append(argv, "--set", s)
	}
	cmd := exec.Command(in.helm, argv...)
	cmd.Dir = in.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in.log(fmt.Sprintf("running: helm %s", strings.Join(argv, " ")))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s failed: %v\n%s", chart, err, strings.TrimSpace(stderr.String()))
	}
	var kept []string
	for _, doc := range strings.Split(string(out), "---\n") {
		if !helmTestDoc.MatchString(doc) {
			kept = append(kept, doc)
		}
	}
	text := strings.Join(kept, "---\n")
	es, err := parseYAMLStream(text, "helm: "+chart)
	if err != nil {
		return nil, err
	}
	if namespace != "" {
		for _, e := range es {
			e.setDefaultNamespace(namespace)
		}
	}
	h.objects = len(es)
	in.rec.helmCalls = append(in.rec.helmCalls, h)
	return &blob{text: text, source: "helm: " + chart, entities: es}, nil
}

// k8s_resource(workload=”, new_name=”, port_forwards=[], extra_pod_selectors=[],
// trigger_mode=TRIGGER_MODE_AUTO, resource_deps=[], objects=[], auto_init=True,
// pod_readiness=”, links=[], labels=[], discovery_strategy=”)
// https://docs.tilt.dev/api.html#api.k8s_resource
func (in *interp) k8sResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var workload, newName string
	var portForwards, extraPodSelectors, triggerModeV, resourceDeps, objects, links, labels starlark.Value
	var podReadiness, discoveryStrategy string
	autoInit := true
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"workload?", &workload,
		"new_name?", &newName,
		"port_forwards?", &portForwards,
		"extra_pod_selectors?", &extraPodSelectors,
		"trigger_mode?", &triggerModeV,
		"resource_deps?", &resourceDeps,
		"objects?", &objects,
		"auto_init?", &autoInit,
		"pod_readiness?", &podReadiness,
		"links?", &links,
		"labels?", &labels,
		"discovery_strategy?", &discoveryStrategy,
	); err != nil {
		return nil, err
	}
	if err := checkTriggerMode(fn.Name(), triggerModeV); err != nil {
		return nil, err
	}
	o := k8sResourceOpts{workload: workload, newName: newName, pos: callerPos(thread)}
	if workload == "" {
		// Tilt: no workload means a new resource made only of `objects`.
		o.workload, o.manuallyGrouped = newName, true
	}
	if o.workload == "" {
		return nil, fmt.Errorf("Resource name missing. Must give a name for an existing resource or a new_name to create a new resource.")
	}
	var err error
	if o.portForwards, err = toPortForwards(portForwards); err != nil {
		return nil, fmt.Errorf("%s %q: %v", fn.Name(), o.workload, err)
	}
	if o.resourceDeps, err = strOrList(fn.Name(), "resource_deps", resourceDeps); err != nil {
		return nil, err
	}
	if o.objects, err = strOrList(fn.Name(), "objects", objects); err != nil {
		return nil, err
	}
	if o.manuallyGrouped && len(o.objects) == 0 {
		return nil, fmt.Errorf("k8s_resource doesn't specify a workload or any objects. All non-workload resources must specify 1 or more objects")
	}
	if _, err = strOrList(fn.Name(), "labels", labels); err != nil {
		return nil, err
	}
	if err = checkLinks(fn.Name(), links); err != nil {
		return nil, err
	}
	switch podReadiness {
	case "", "wait", "ignore", "succeeded":
	default:
		return nil, fmt.Errorf("%s: invalid pod_readiness %q", fn.Name(), podReadiness)
	}
	in.rec.k8sResources = append(in.rec.k8sResources, o)
	return starlark.None, nil
}

// port_forwards: an int, a string "[host:]local[:container]", a port_forward(), or a list of
// those (Tilt's convertPortForwards/stringToPortForward in k8s.go).
func toPortForwards(v starlark.Value) ([]portForward, error) {
	var out []portForward
	for _, x := range seqOf(v) {
		switch x := x.(type) {
		case starlark.Int:
			n, ok := x.Int64()
			if !ok || n < 0 || n > 65535 {
				return nil, fmt.Errorf("portForward port value %v is not in the valid range [0-65535]", x)
			}
			out = append(out, portForward{spec: x.String(), localPort: int(n)})
		case starlark.String:
			pf, err := parsePortForward(string(x))
			if err != nil {
				return nil, err
			}
			out = append(out, pf)
		case portForward:
			out = append(out, x)
		default:
			return nil, fmt.Errorf("port_forwards element %v must be an int, a string or a port_forward; is a %s", x, x.Type())
		}
	}
	return out, nil
}

func parsePortForward(s string) (portForward, error) {
	parts := strings.SplitN(s, ":", 3)
	localStr := parts[0]
	if len(parts) == 3 {
		localStr = parts[1] // host:local:container
	}
	var local, container int
	if _, err := fmt.Sscanf(localStr, "%d", &local); err != nil || fmt.Sprint(local) != localStr || local < 0 || local > 65535 {
		return portForward{}, fmt.Errorf("portForward port value %q is not in the valid range [0-65535]", localStr)
	}
	if len(parts) > 1 {
		last := parts[len(parts)-1]
		if _, err := fmt.Sscanf(last, "%d", &container); err != nil || fmt.Sprint(container) != last || container < 0 || container > 65535 {
			return portForward{}, fmt.Errorf("portForward port value %q is not in the valid range [0-65535]", last)
		}
	}
	return portForward{spec: s, localPort: local, containerPort: container}, nil
}

// port_forward(local_port, container_port=None, name=None, link_path=None, host=None)
// https://docs.tilt.dev/api.html#api.port_forward
func portForwardFn(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var local, container int
	var name, path, host string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"local_port", &local, "container_port?", &container, "name?", &name,
		"link_path?", &path, "host?", &host); err != nil {
		return nil, err
	}
	spec := fmt.Sprint(local)
	if container != 0 {
		spec = fmt.Sprintf("%d:%d", local, container)
	}
	return portForward{spec: spec, localPort: local, containerPort: container}, nil
}

// link(url, name=None) https://docs.tilt.dev/api.html#api.link
func linkFn(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var url, name string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "url", &url, "name?", &name); err != nil {
		return nil, err
	}
	return link{url: url, name: name}, nil
}

// watch_file(paths) https://docs.tilt.dev/api.html#api.watch_file
func (in *interp) watchFile(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path); err != nil {
		return nil, err
	}
	in.rec.watches = append(in.rec.watches, path)
	return starlark.None, nil
}

// blob(input) https://docs.tilt.dev/api.html#api.blob
func blobFn(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var input string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "input", &input); err != nil {
		return nil, err
	}
	return &blob{text: input, source: "blob"}, nil
}

// fail(msg) https://docs.tilt.dev/api.html#api.fail
func failFn(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("fail: %s", msg)
}
