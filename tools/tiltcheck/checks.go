package main

// What the Tiltfile recorded, checked against the rendered objects, the Dockerfile and the
// repository. One line per check: `ok   <subject>: <what holds>` or `FAIL <subject>: <what is
// wrong>` (several problems of one check share its line, separated by "; ").

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.starlark.net/syntax"
	yaml "go.yaml.in/yaml/v3"
)

type report struct {
	w              io.Writer
	passed, failed int
}

func (r *report) ok(subject, msg string) {
	r.passed++
	fmt.Fprintf(r.w, "ok   %s: %s\n", subject, msg)
}

func (r *report) fail(subject, msg string) {
	r.failed++
	fmt.Fprintf(r.w, "FAIL %s: %s\n", subject, msg)
}

func (r *report) result(subject string, problems []string, okMsg string) {
	if len(problems) > 0 {
		r.fail(subject, strings.Join(problems, "; "))
	} else {
		r.ok(subject, okMsg)
	}
}

// resultAt is result for a builtin call: a failure also says where the call is.
func (r *report) resultAt(subject string, pos syntax.Position, problems []string, okMsg string) {
	if len(problems) > 0 {
		problems = append([]string(nil), problems...)
		problems[len(problems)-1] += " (" + shortPos(pos) + ")"
	}
	r.result(subject, problems, okMsg)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// tiltChecks executes the Tiltfile and checks what it recorded; false if it did not execute.
func tiltChecks(r *report, in *interp, tiltfile string) bool {
	subject := filepath.Base(tiltfile)
	if err := in.exec(tiltfile); err != nil {
		r.fail(subject, "execution failed (as `tilt up` would): "+oneLine(err.Error(), err))
		return false
	}
	rec := &in.rec
	r.ok(subject, fmt.Sprintf("executes in Tilt's Starlark dialect (%d objects passed to k8s_yaml, %d k8s_resource, %d local_resource, %d docker_build calls)",
		len(rec.entities), len(rec.k8sResources), len(rec.locals), len(rec.dockerBuilds)))
	for _, h := range rec.helmCalls {
		r.ok("helm "+h.chart, fmt.Sprintf("helm template rendered %d objects (release %s, namespace %s, values %s)",
			h.objects, h.name, h.namespace, strings.Join(h.values, ", ")))
	}

	a := assemble(rec)
	for _, msg := range a.errors {
		r.fail("Tilt resources", msg)
	}

	known := map[string]bool{}
	for _, res := range a.resources {
		known[res.name] = true
	}
	for _, l := range rec.locals {
		known[l.name] = true
	}
	if len(a.unresourced) > 0 {
		known["uncategorized"] = true // Tilt's resource for objects no other resource took
	}
	var knownList []string
	for n := range known {
		knownList = append(knownList, n)
	}
	sort.Strings(knownList)
	depProblems := func(owner string, deps []string) []string {
		var problems []string
		for _, d := range deps {
			if d == owner {
				problems = append(problems, fmt.Sprintf("resource_deps entry '%s' is the resource itself", d))
			} else if !known[d] {
				problems = append(problems, fmt.Sprintf("resource_deps entry '%s' names no resource (have: %s)", d, quoteList(knownList)))
			}
		}
		return problems
	}

	for i, o := range rec.k8sResources {
		subject := "k8s_resource " + o.workload
		target := a.target[i]
		if a.nameErr[i] != "" {
			r.resultAt(subject, o.pos, []string{a.nameErr[i]}, "")
		} else if o.manuallyGrouped {
			r.ok(subject, fmt.Sprintf("new_name '%s' is a new resource of objects only", o.newName))
		} else if target.manuallyGrouped || len(target.entities) == 0 {
			r.ok(subject, fmt.Sprintf("names the resource '%s' made earlier by new_name", o.workload))
		} else {
			msg := "names the workload " + describe(target.entities[0])
			if o.newName != "" {
				msg += fmt.Sprintf(", renamed '%s'", o.newName)
			}
			r.ok(subject, msg)
		}
		if target == nil {
			continue
		}
		if len(o.objects) > 0 {
			r.resultAt(subject, o.pos, a.objectErrs[i], fmt.Sprintf("each objects entry names one rendered object no other resource has (%s)", quoteList(o.objects)))
		}
		if len(o.portForwards) > 0 {
			r.resultAt(subject, o.pos, portForwardProblems(target, o.portForwards), fmt.Sprintf("every port_forwards container port is exposed by %s", describeAll(target.workloads())))
		}
		if len(o.resourceDeps) > 0 {
			r.resultAt(subject, o.pos, depProblems(target.name, o.resourceDeps), fmt.Sprintf("resource_deps name defined resources (%s)", quoteList(o.resourceDeps)))
		}
	}

	for _, l := range rec.locals {
		localChecks(r, in, l, depProblems)
	}

	deps := map[string][]string{}
	edges := 0
	for _, res := range a.resources {
		deps[res.name] = append(deps[res.name], res.resourceDeps...)
		edges += len(res.resourceDeps)
	}
	for _, l := range rec.locals {
		deps[l.name] = append(deps[l.name], l.resourceDeps...)
		edges += len(l.resourceDeps)
	}
	if cycle := findCycle(deps); cycle != nil {
		r.fail("resource_deps", "cycle: "+strings.Join(cycle, " -> "))
	} else {
		r.ok("resource_deps", fmt.Sprintf("the %d dependencies form no cycle", edges))
	}

	for _, d := range rec.dockerBuilds {
		dockerBuildChecks(r, in, d, rec, a)
	}
	imageChecks(r, in, rec, a)

	for _, w := range rec.watches {
		if exists(in.abs(w)) {
			r.ok("watch_file "+w, "exists")
		} else {
			r.fail("watch_file "+w, "does not exist")
		}
	}

	// Not checks, but worth seeing in the log: what Tilt would show under "uncategorized",
	// and the workloads that keep Tilt's defaults.
	var rest []string
	for _, e := range a.unresourced {
		rest = append(rest, strings.ToLower(e.name+":"+e.kind))
	}
	in.log("objects in Tilt's 'uncategorized' resource: " + quoteList(rest))
	return true
}

func describe(e *entity) string { return e.kind + " " + e.name }

func describeAll(es []*entity) string {
	var out []string
	for _, e := range es {
		out = append(out, describe(e))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// portForwardProblems: the container port of each entry (after the last ':', or the single
// number, which Tilt forwards from when the container exposes it) must be a containerPort of
// one of the resource's pods.
func portForwardProblems(res *k8sRes, pfs []portForward) []string {
	ws := res.workloads()
	if len(ws) == 0 {
		return []string{fmt.Sprintf("port_forwards %s, but resource '%s' has no pod-creating object", quoteList(specs(pfs)), res.name)}
	}
	exposed := map[int]bool{}
	var exposedList []string
	for _, w := range ws {
		for _, c := range w.containers() {
			for _, p := range c.ports {
				if !exposed[p] {
					exposed[p] = true
					exposedList = append(exposedList, fmt.Sprint(p))
				}
			}
		}
	}
	var problems []string
	for _, pf := range pfs {
		port := pf.containerPort
		if port == 0 {
			port = pf.localPort
		}
		if !exposed[port] {
			problems = append(problems, fmt.Sprintf("port_forwards entry '%s': container port %d is not a containerPort of %s (exposed: %s)",
				pf.spec, port, describeAll(ws), quoteList(exposedList)))
		}
	}
	return problems
}

func specs(pfs []portForward) []string {
	var out []string
	for _, p := range pfs {
		out = append(out, p.spec)
	}
	return out
}

func localChecks(r *report, in *interp, l localResource, depProblems func(string, []string) []string) {
	subject := "local_resource " + l.name
	base := in.dir
	if l.dir != "" {
		base = in.abs(l.dir)
	}
	for _, c := range []struct {
		param string
		cmd   shellCmd
	}{{"cmd", l.cmd}, {"serve_cmd", l.serveCmd}} {
		if c.cmd.empty() {
			continue
		}
		if c.cmd.script == "" {
			r.ok(subject, fmt.Sprintf("%s is an argv list (no shell): %s", c.param, strings.Join(c.cmd.argv, " ")))
			continue
		}
		syntaxProblems := shellSyntax(c.cmd.script)
		r.resultAt(subject, l.pos, syntaxProblems, c.param+" passes bash -n and sh -n (Tilt runs it with sh -c)")
		if len(syntaxProblems) > 0 {
			continue // the files it names cannot be found reliably in a broken script
		}
		files, err := namedFiles(c.cmd.script, base)
		if err != nil {
			r.fail(subject, fmt.Sprintf("%s: cannot parse it to find the files it names: %v", c.param, err))
			continue
		}
		if len(files) == 0 {
			continue
		}
		var problems []string
		for _, f := range files {
			if !exists(filepath.Join(base, f)) {
				problems = append(problems, fmt.Sprintf("%s names '%s', which does not exist", c.param, f))
			}
		}
		r.resultAt(subject, l.pos, problems, fmt.Sprintf("the files %s names exist (%s)", c.param, quoteList(files)))
	}
	if len(l.deps) > 0 {
		var problems []string
		for _, d := range l.deps {
			if !exists(in.abs(d)) {
				problems = append(problems, fmt.Sprintf("deps entry '%s' does not exist", d))
			}
		}
		r.resultAt(subject, l.pos, problems, fmt.Sprintf("deps exist (%s)", quoteList(l.deps)))
	}
	if len(l.resourceDeps) > 0 {
		r.resultAt(subject, l.pos, depProblems(l.name, l.resourceDeps), fmt.Sprintf("resource_deps name defined resources (%s)", quoteList(l.resourceDeps)))
	}
}

// findCycle returns a dependency cycle, if any (Tilt refuses them: sanitizeDependencies).
func findCycle(deps map[string][]string) []string {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = active
		stack = append(stack, n)
		for _, d := range deps[n] {
			if d == n {
				continue // reported as a self-dependency
			}
			switch state[d] {
			case active:
				for i, s := range stack {
					if s == d {
						return append(append([]string(nil), stack[i:]...), d)
					}
				}
			case unvisited:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	var names []string
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if state[n] == unvisited {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

func dockerBuildChecks(r *report, in *interp, d dockerBuild, rec *recorded, a *assembly) {
	subject := "docker_build " + d.ref
	context := in.abs(d.context)
	dockerfile := filepath.Join(context, "Dockerfile") // Tilt's default: <context>/Dockerfile
	if d.dockerfileSet {
		dockerfile = in.abs(d.dockerfile)
	}
	var problems []string
	if fi, err := os.Stat(context); err != nil || !fi.IsDir() {
		problems = append(problems, fmt.Sprintf("context '%s' is not a directory", d.context))
	}
	text := d.dockerfileContents
	if text == "" {
		bs, err := os.ReadFile(dockerfile)
		if err != nil {
			problems = append(problems, fmt.Sprintf("cannot read the Dockerfile: %v", err))
		}
		text = string(bs)
	}
	r.resultAt(subject, d.pos, problems, fmt.Sprintf("context '%s' and Dockerfile '%s' exist", d.context, rel(in.dir, dockerfile)))
	if len(problems) > 0 {
		return
	}
	onlyProblems, copyProblems, sources := buildContextProblems(context, d, text)
	if len(d.only) > 0 {
		r.resultAt(subject, d.pos, onlyProblems, fmt.Sprintf("only paths exist (%s)", quoteList(d.only)))
	}
	r.resultAt(subject, d.pos, copyProblems, fmt.Sprintf("Tilt's build context (only=, ignore=, .dockerignore) has every COPY/ADD source of the Dockerfile (%s)", quoteList(sources)))

	// Tilt refuses an image no deployed object uses (assertAllImagesMatched).
	var users []string
	for _, res := range a.resources {
		for _, w := range res.workloads() {
			for _, c := range w.containers() {
				if refMatches(d.ref, c.image) {
					users = append(users, res.name)
					goto next
				}
			}
		}
	next:
	}
	if len(users) == 0 {
		r.resultAt(subject, d.pos, []string{fmt.Sprintf("no workload runs image '%s' (Tilt: image not used in any deploy config; images used: %s)", d.ref, quoteList(allImages(a)))}, "")
	} else {
		r.ok(subject, fmt.Sprintf("the image is used by %d resources (%s)", len(users), strings.Join(users, ", ")))
	}
}

func allImages(a *assembly) []string {
	seen := map[string]bool{}
	var out []string
	for _, res := range a.resources {
		for _, w := range res.workloads() {
			for _, c := range w.containers() {
				if !seen[c.image] {
					seen[c.image] = true
					out = append(out, c.image)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// imageChecks: every container running our image must get the image docker_build builds.
// "Our image" is the chart's image.repository (chart values.yaml, then the values files and
// --set of the helm() call) and any image whose last path component is "payments".
func imageChecks(r *report, in *interp, rec *recorded, a *assembly) {
	own := map[string]bool{}
	for _, h := range rec.helmCalls {
		if repo := helmImageRepository(in, h); repo != "" {
			if ref, err := parseImageRef(repo); err == nil {
				own[ref.Name()] = true
			}
		}
	}
	var ownList []string
	for n := range own {
		ownList = append(ownList, n)
	}
	sort.Strings(ownList)
	var problems []string
	count := 0
	for _, res := range a.resources {
		for _, w := range res.workloads() {
			for _, c := range w.containers() {
				ref, err := parseImageRef(c.image)
				if err != nil {
					problems = append(problems, fmt.Sprintf("container %s of %s: image '%s' does not parse: %v", c.name, describe(w), c.image, err))
					continue
				}
				if !own[ref.Name()] && path.Base(ref.Name()) != "payments" {
					continue
				}
				count++
				built := false
				for _, d := range rec.dockerBuilds {
					if refMatches(d.ref, c.image) {
						built = true
					}
				}
				if !built {
					problems = append(problems, fmt.Sprintf("container %s of %s runs '%s', which no docker_build builds (refs: %s)", c.name, describe(w), c.image, quoteList(buildRefs(rec))))
				}
			}
		}
	}
	if count == 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("no container runs the chart's image (repository %s)", quoteList(ownList)))
	}
	r.result("images", problems, fmt.Sprintf("all %d containers running the chart's image (repository %s) get it from docker_build %s", count, quoteList(ownList), quoteList(buildRefs(rec))))
}

func buildRefs(rec *recorded) []string {
	var out []string
	for _, d := range rec.dockerBuilds {
		out = append(out, d.ref)
	}
	return out
}

// helmImageRepository is .Values.image.repository as helm would merge it for this call.
func helmImageRepository(in *interp, h helmCall) string {
	repo := ""
	files := append([]string{filepath.Join(h.chart, "values.yaml")}, h.values...)
	for _, f := range files {
		bs, err := os.ReadFile(in.abs(f))
		if err != nil {
			continue
		}
		var v struct {
			Image struct {
				Repository string `yaml:"repository"`
			} `yaml:"image"`
		}
		if yaml.Unmarshal(bs, &v) == nil && v.Image.Repository != "" {
			repo = v.Image.Repository
		}
	}
	for _, s := range h.set {
		for _, kv := range strings.Split(s, ",") {
			if k, val, ok := strings.Cut(kv, "="); ok && k == "image.repository" {
				repo = val
			}
		}
	}
	return repo
}

func rel(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil {
		return r
	}
	return p
}
