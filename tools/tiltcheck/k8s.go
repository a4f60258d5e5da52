package main

// Kubernetes objects as Tilt sees them, and Tilt's rules for turning them into resources:
// which objects are workloads, what a workload's resource is called, which Services join it,
// what an `objects=` entry matches. Ported from tilt-dev/tilt: internal/tiltfile/tiltfile_state.go
// (assembleK8s, assembleK8sByWorkload, assembleK8sUnresourced), internal/k8s/names.go
// (UniqueNames, FragmentsToEntities), internal/k8s/object_selector.go (SelectorFromString),
// internal/k8s/entity.go (FilterByMatchesPodTemplateSpec), internal/k8s/image.go (FindImages).
// Documented at https://docs.tilt.dev/api.html#api.k8s_resource.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

type entity struct {
	apiVersion, group, kind, name string
	namespace                     string // as written; "" = none (Tilt then says "default")
	obj                           map[string]any
	source                        string
}

func newEntity(obj map[string]any, source string) *entity {
	e := &entity{obj: obj, source: source}
	e.apiVersion, _ = obj["apiVersion"].(string)
	e.kind, _ = obj["kind"].(string)
	if i := strings.LastIndex(e.apiVersion, "/"); i >= 0 {
		e.group = e.apiVersion[:i]
	}
	meta, _ := obj["metadata"].(map[string]any)
	e.name, _ = meta["name"].(string)
	e.namespace, _ = meta["namespace"].(string)
	return e
}

// parseYAMLStream splits a multi-document YAML stream into objects (a `kind: List` into its
// items, as Tilt's k8s.ParseYAMLFromString does).
func parseYAMLStream(text, source string) ([]*entity, error) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	var out []*entity
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if obj == nil {
			continue // empty document
		}
		if obj["kind"] == "List" {
			items, _ := obj["items"].([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					out = append(out, newEntity(m, source))
				}
			}
			continue
		}
		e := newEntity(obj, source)
		if e.kind == "" || e.apiVersion == "" || e.name == "" {
			return nil, fmt.Errorf("document %d has no apiVersion, kind or metadata.name", len(out)+1)
		}
		out = append(out, e)
	}
}

// ns is the namespace as Tilt reports it (K8sEntity.Namespace).
func (e *entity) ns() string {
	if e.namespace == "" {
		return "default"
	}
	return e.namespace
}

func (e *entity) setDefaultNamespace(ns string) {
	if e.namespace != "" {
		return
	}
	e.namespace = ns
	if meta, ok := e.obj["metadata"].(map[string]any); ok {
		meta["namespace"] = ns
	}
}

func (e *entity) address() string {
	return strings.Join([]string{e.group, e.kind, e.namespace, e.name}, "/")
}

// fullName is Tilt's name for an object in messages (fullNameFromK8sEntity): name:kind:namespace.
func (e *entity) fullName() string { return e.name + ":" + e.kind + ":" + e.ns() }

// potentialNames are the fragments that identify the object, shortest first, lower case
// (names.go, potentialNames): name, name:kind, name:kind:namespace, name:kind:namespace:group.
func (e *entity) potentialNames() []string {
	group := e.group
	if group == "" {
		group = "core"
	}
	parts := []string{e.name, e.kind, e.ns(), group}
	var out []string
	for i := 1; i <= len(parts); i++ {
		out = append(out, strings.ToLower(strings.Join(parts[:i], ":")))
	}
	return out
}

// podTemplatePaths: where the built-in kinds keep a PodTemplateSpec. Tilt decodes built-in
// kinds into client-go types and finds containers by type (extract.go), so only these kinds
// have containers for it; custom resources (e.g. Strimzi's Kafka) have none.
var podTemplatePaths = map[string][]string{
	"apps/Deployment":        {"spec", "template"},
	"apps/StatefulSet":       {"spec", "template"},
	"apps/DaemonSet":         {"spec", "template"},
	"apps/ReplicaSet":        {"spec", "template"},
	"batch/Job":              {"spec", "template"},
	"batch/CronJob":          {"spec", "jobTemplate", "spec", "template"},
	"/ReplicationController": {"spec", "template"},
	"/PodTemplate":           {"template"},
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

// podTemplate returns the object's PodTemplateSpec (nil if it has none).
func (e *entity) podTemplate() map[string]any {
	if path, ok := podTemplatePaths[e.group+"/"+e.kind]; ok {
		return dig(e.obj, path...)
	}
	return nil
}

func (e *entity) podSpec() map[string]any {
	if e.group == "" && e.kind == "Pod" {
		return dig(e.obj, "spec")
	}
	if t := e.podTemplate(); t != nil {
		return dig(t, "spec")
	}
	return nil
}

type containerInfo struct {
	name, image string
	ports       []int
}

// containers: containers and initContainers (both of client-go type Container).
func (e *entity) containers() []containerInfo {
	spec := e.podSpec()
	if spec == nil {
		return nil
	}
	var out []containerInfo
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := spec[key].([]any)
		for _, c := range list {
			cm, _ := c.(map[string]any)
			ci := containerInfo{}
			ci.name, _ = cm["name"].(string)
			ci.image, _ = cm["image"].(string)
			ports, _ := cm["ports"].([]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				if n, ok := pm["containerPort"].(int); ok {
					ci.ports = append(ci.ports, n)
				}
			}
			out = append(out, ci)
		}
	}
	return out
}

// isWorkload: Tilt makes a resource of every object in which it finds an image
// (tiltfile_state.go isWorkload; no k8s_kind() calls here).
func (e *entity) isWorkload() bool {
	for _, c := range e.containers() {
		if c.image != "" {
			return true
		}
	}
	return false
}

// joinsWorkload: a Service whose selector matches the workload's pod labels, in its namespace
// (or with none), goes into the workload's resource (FilterByMatchesPodTemplateSpec).
func (e *entity) joinsWorkload(w *entity) bool {
	if !(e.group == "" && e.kind == "Service") {
		return false
	}
	t := w.podTemplate()
	if t == nil {
		return false
	}
	selector, _ := dig(e.obj, "spec")["selector"].(map[string]any)
	if len(selector) == 0 {
		return false
	}
	labels := dig(t, "metadata", "labels")
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return e.ns() == "default" || e.ns() == w.ns()
}

// uniqueNames: a workload's resource is named after the shortest fragment no other workload
// shares: usually metadata.name, else name:kind, ... (names.go UniqueNamesMeta).
func uniqueNames(ws []*entity) []string {
	counts := map[string]int{}
	for _, w := range ws {
		for _, n := range w.potentialNames() {
			counts[n]++
		}
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		names := w.potentialNames()
		for _, n := range names {
			if counts[n] == 1 {
				out[i] = n
				break
			}
		}
		if out[i] == "" {
			out[i] = fmt.Sprintf("%s:%d", names[len(names)-1], i)
		}
	}
	return out
}

// selector is an `objects=` entry: name[:kind[:namespace]], each part matched whole and
// case-insensitively (object_selector.go SelectorFromString).
type selector struct{ name, kind, namespace string }

func parseSelector(s string) (selector, error) {
	parts := strings.Split(s, ":")
	if s == "" {
		return selector{}, fmt.Errorf("selector can't be empty")
	}
	if len(parts) > 3 {
		return selector{}, fmt.Errorf("too many parts in selector '%s': want name[:kind[:namespace]]", s)
	}
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return selector{name: parts[0], kind: parts[1], namespace: parts[2]}, nil
}

func (s selector) matches(e *entity) bool {
	eq := func(want, have string) bool { return want == "" || strings.EqualFold(want, have) }
	return eq(s.name, e.name) && eq(s.kind, e.kind) && eq(s.namespace, e.ns())
}

// ---------------------------------------------------------------- assembly

type k8sRes struct {
	name            string
	entities        []*entity
	manuallyGrouped bool
	portForwards    []portForward
	resourceDeps    []string
}

// workloads are the resource's pod-creating objects (port_forwards go to their pods).
func (r *k8sRes) workloads() []*entity {
	var out []*entity
	for _, e := range r.entities {
		if e.podSpec() != nil {
			out = append(out, e)
		}
	}
	return out
}

type assembly struct {
	resources   []*k8sRes
	byName      map[string]*k8sRes
	owner       map[*entity]*k8sRes
	why         map[*entity]string // how the owner got it, for messages
	errors      []string           // what Tilt would refuse outside any k8s_resource call
	unresourced []*entity
	// per k8s_resource call (same index as recorded.k8sResources): what Tilt would refuse,
	// about the workload/new_name and about each objects entry.
	nameErr    []string
	objectErrs [][]string
	target     []*k8sRes // the resource each call ended up configuring (nil on error)
}

func (a *assembly) add(r *k8sRes) {
	a.resources = append(a.resources, r)
	a.byName[r.name] = r
}

func (a *assembly) claim(r *k8sRes, e *entity, why string) {
	r.entities = append(r.entities, e)
	a.owner[e] = r
	a.why[e] = why
	for i, u := range a.unresourced {
		if u == e {
			a.unresourced = append(a.unresourced[:i], a.unresourced[i+1:]...)
			return
		}
	}
}

func (a *assembly) names() []string {
	var out []string
	for _, r := range a.resources {
		out = append(out, r.name)
	}
	sort.Strings(out)
	return out
}

// assemble groups the recorded objects into resources the way Tilt does at the end of a
// Tiltfile load; where Tilt stops at the first error, this records it and goes on.
func assemble(rec *recorded) *assembly {
	a := &assembly{byName: map[string]*k8sRes{}, owner: map[*entity]*k8sRes{}, why: map[*entity]string{}}
	locals := map[string]bool{}
	for _, l := range rec.locals {
		locals[l.name] = true
	}
	conflict := func(name string) string {
		if a.byName[name] != nil {
			return fmt.Sprintf("k8s_resource named '%s' already exists", name)
		}
		if locals[name] {
			return fmt.Sprintf("local_resource named '%s' already exists", name)
		}
		return ""
	}

	// Workloads first, each with the Services that select its pods.
	var workloads, rest []*entity
	for _, e := range rec.entities {
		if e.isWorkload() {
			workloads = append(workloads, e)
		} else {
			rest = append(rest, e)
		}
	}
	a.unresourced = rest
	for i, name := range uniqueNames(workloads) {
		if c := conflict(name); c != "" {
			a.errors = append(a.errors, fmt.Sprintf("the workload %s gets the resource name '%s', but %s", describe(workloads[i]), name, c))
		}
		r := &k8sRes{name: name}
		a.add(r)
		r.entities = append(r.entities, workloads[i])
		a.owner[workloads[i]] = r
		a.why[workloads[i]] = "it is that resource's workload"
		for _, e := range append([]*entity(nil), a.unresourced...) {
			if e.joinsWorkload(workloads[i]) {
				a.claim(r, e, "a Service Tilt groups with the workload whose pods it selects")
			}
		}
	}
	// Pod templates without images still make a resource, named after the object.
	for _, e := range append([]*entity(nil), a.unresourced...) {
		if e.podTemplate() == nil || a.owner[e] != nil {
			continue
		}
		r := a.byName[e.name]
		if r == nil {
			r = &k8sRes{name: e.name}
			a.add(r)
		}
		a.claim(r, e, "it is that resource's workload")
		for _, s := range append([]*entity(nil), a.unresourced...) {
			if s.joinsWorkload(e) {
				a.claim(r, s, "a Service Tilt groups with the workload whose pods it selects")
			}
		}
	}

	// Fragments are computed once over all objects: an entry must be unique among all of
	// them, and then still unclaimed.
	fragments := map[string][]*entity{}
	for _, e := range rec.entities {
		for _, n := range e.potentialNames() {
			fragments[n] = append(fragments[n], e)
		}
	}

	for _, o := range rec.k8sResources {
		var nameErr string
		var objErrs []string
		var r *k8sRes
		if o.manuallyGrouped {
			if c := conflict(o.newName); c != "" {
				nameErr = c
			} else {
				r = &k8sRes{name: o.newName, manuallyGrouped: true}
				a.add(r)
			}
		} else if r = a.byName[o.workload]; r == nil {
			nameErr = fmt.Sprintf("no workload or resource named '%s' (have: %s)", o.workload, quoteList(a.names()))
		} else if o.newName != "" && o.newName != r.name {
			if c := conflict(o.newName); c != "" {
				nameErr = fmt.Sprintf("cannot rename '%s' to '%s': %s", r.name, o.newName, c)
			} else {
				delete(a.byName, r.name)
				r.name = o.newName
				a.byName[r.name] = r
			}
		}
		if r != nil {
			r.portForwards = append(r.portForwards, o.portForwards...)
			r.resourceDeps = append(r.resourceDeps, o.resourceDeps...)
			for _, entry := range o.objects {
				if msg := a.claimObject(r, entry, fragments); msg != "" {
					objErrs = append(objErrs, msg)
				}
			}
		}
		a.nameErr = append(a.nameErr, nameErr)
		a.objectErrs = append(a.objectErrs, objErrs)
		a.target = append(a.target, r)
	}
	return a
}

// claimObject moves the one object an `objects=` entry names into r, or says why Tilt would not.
func (a *assembly) claimObject(r *k8sRes, entry string, fragments map[string][]*entity) string {
	sel, err := parseSelector(entry)
	if err != nil {
		return fmt.Sprintf("objects entry '%s': %v", entry, err)
	}
	found := fragments[strings.ToLower(entry)]
	if len(found) == 0 {
		return fmt.Sprintf("objects entry '%s' matches no rendered object (have: %s)", entry, a.candidates(sel))
	}
	if len(found) > 1 {
		var names []string
		for _, e := range found {
			names = append(names, e.fullName())
		}
		return fmt.Sprintf("objects entry '%s' is not unique: it matches %s", entry, quoteList(names))
	}
	e := found[0]
	if owner := a.owner[e]; owner != nil {
		return fmt.Sprintf("objects entry '%s' names %s, which already belongs to resource '%s' (%s)", entry, e.fullName(), owner.name, a.why[e])
	}
	a.claim(r, e, "claimed by an earlier objects= entry")
	return ""
}

// candidates lists unclaimed objects for a message: those of the entry's kind if it names
// one that exists, else all of them.
func (a *assembly) candidates(sel selector) string {
	var same, all []string
	for _, e := range a.unresourced {
		frag := strings.ToLower(e.name + ":" + e.kind)
		all = append(all, frag)
		if sel.kind != "" && strings.EqualFold(sel.kind, e.kind) {
			same = append(same, frag)
		}
	}
	if len(same) > 0 {
		return quoteList(same)
	}
	return quoteList(all)
}

func quoteList(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("'%s'", x)
	}
	return strings.Join(q, ", ")
}
