package main

// local_resource commands: syntax (the shells themselves, -n) and the repository files they
// name (found with mvdan.cc/sh's parser, so quoting, $(...) and redirections are understood).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// shellSyntax runs `<shell> -n -c script` for bash (what the brief asks for, and what a
// developer would paste it into) and sh (Tilt runs a string cmd as `sh -c`, model.ToHostCmd).
func shellSyntax(script string) []string {
	var problems []string
	for _, sh := range []string{"bash", "sh"} {
		var stderr bytes.Buffer
		cmd := exec.Command(sh, "-n", "-c", script)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			problems = append(problems, fmt.Sprintf("%s -n: %s", sh, oneLine(stderr.String(), err)))
		}
	}
	return problems
}

func oneLine(s string, err error) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return err.Error()
	}
	return s
}

// Flags whose value is a file a command reads (kubectl -f/--filename/-k/--kustomize,
// --from-file, --from-env-file; helm -f/--values).
var fileFlags = map[string]bool{
	"-f": true, "--filename": true, "-k": true, "--kustomize": true, "--from-file": true,
	"--from-env-file": true, "--values": true,
}

var relPath = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.@+-]*(/[A-Za-z0-9_.@+-]+)*/?$`)

// namedFiles returns the relative paths a script names that must exist under dir:
//   - input redirections (`<file`) and the values of file flags (`-f file`, `--from-file=file`),
//     whatever they look like;
//   - any other literal word that looks like a relative path (a/b/c) whose first component
//     exists in dir (so `csvs/x.csv` is checked, while a bucket path such as
//     `local/files-imported/x.csv` or a label `app.kubernetes.io/name` is not).
func namedFiles(script, dir string) ([]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p == "" || p == "-" || strings.Contains(p, "://") || filepath.IsAbs(p) || seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
	}
	syntax.Walk(f, func(node syntax.Node) bool {
		switch n := node.(type) {
		case *syntax.Redirect:
			if n.Op == syntax.RdrIn {
				if w, ok := literal(n.Word); ok {
					add(w)
				}
			}
		case *syntax.CallExpr:
			for i, arg := range n.Args {
				w, ok := literal(arg)
				if !ok {
					continue
				}
				if flag, val, hasEq := strings.Cut(w, "="); hasEq && fileFlags[flag] {
					add(val)
					continue
				}
				if fileFlags[w] && i+1 < len(n.Args) {
					if v, ok := literal(n.Args[i+1]); ok {
						add(v)
					}
					continue
				}
				if strings.HasPrefix(w, "-") || !strings.Contains(strings.TrimSuffix(w, "/"), "/") || !relPath.MatchString(w) {
					continue
				}
				first := strings.SplitN(path.Clean(w), "/", 2)[0]
				if _, err := os.Stat(filepath.Join(dir, first)); err == nil {
					add(w)
				}
			}
		}
		return true
	})
	return out, nil
}

// literal is a word's value if it has no expansions (quotes allowed).
func literal(w *syntax.Word) (string, bool) {
	if w == nil {
		return "", false
	}
	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(lit.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}
