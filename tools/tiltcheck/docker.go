package main

// docker_build's build context as Tilt would send it: the context directory, reduced to the
// `only` paths, minus `ignore` patterns and the context's .dockerignore
// (https://docs.tilt.dev/api.html#api.docker_build, https://docs.tilt.dev/file_changes.html).
// Every source the Dockerfile COPYs or ADDs from the context must survive that.

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// parseImageRef normalizes like Tilt's container.ParseNamed (docker's reference package):
// `payments` is docker.io/library/payments.
func parseImageRef(s string) (reference.Named, error) {
	return reference.ParseNormalizedNamed(s)
}

// refMatches is Tilt's RefSelector: a docker_build ref without a tag matches any tag of the
// same repository; with a tag, only that tag.
func refMatches(buildRef, image string) bool {
	b, err := parseImageRef(buildRef)
	if err != nil {
		return false
	}
	i, err := parseImageRef(image)
	if err != nil {
		return false
	}
	if _, tagged := b.(reference.Tagged); tagged {
		return b.String() == i.String()
	}
	return b.Name() == i.Name()
}

// copySource is a COPY/ADD source in the Dockerfile (relative to the build context).
type copySource struct {
	line int
	path string
}

// dockerfileCopySources reads COPY and ADD instructions (line continuations, flags, the JSON
// form); sources from another stage or image (--from) and remote ADD sources are not from
// the context and are skipped, as are heredocs.
func dockerfileCopySources(text string) ([]copySource, []string) {
	var out []copySource
	var problems []string
	sc := bufio.NewScanner(strings.NewReader(text))
	var logical strings.Builder
	lineNo, startLine := 0, 0
	flush := func() {
		instr := strings.TrimSpace(logical.String())
		logical.Reset()
		fields := strings.Fields(instr)
		if len(fields) == 0 {
			return
		}
		op := strings.ToUpper(fields[0])
		if op != "COPY" && op != "ADD" {
			return
		}
		rest := strings.TrimSpace(instr[len(fields[0]):])
		var args []string
		for strings.HasPrefix(rest, "--") {
			flag, after, _ := strings.Cut(rest, " ")
			if strings.HasPrefix(flag, "--from=") {
				return
			}
			rest = strings.TrimSpace(after)
		}
		if strings.HasPrefix(rest, "[") {
			var err error
			if args, err = parseJSONArray(rest); err != nil {
				problems = append(problems, fmt.Sprintf("Dockerfile line %d: %v", startLine, err))
				return
			}
		} else {
			args = strings.Fields(rest)
		}
		if len(args) < 2 {
			problems = append(problems, fmt.Sprintf("Dockerfile line %d: %s needs a source and a destination", startLine, op))
			return
		}
		for _, src := range args[:len(args)-1] {
			if strings.HasPrefix(src, "<<") || strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
				continue
			}
			out = append(out, copySource{line: startLine, path: src})
		}
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if logical.Len() == 0 {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			startLine = lineNo
		} else if strings.HasPrefix(trimmed, "#") {
			continue // comment lines inside a continued instruction are dropped
		}
		if strings.HasSuffix(line, `\`) {
			logical.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		logical.WriteString(line)
		flush()
	}
	if logical.Len() > 0 {
		flush()
	}
	return out, problems
}

func parseJSONArray(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("malformed JSON array %s", s)
	}
	var out []string
	for _, item := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ",") {
		v, err := strconv.Unquote(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("malformed JSON array %s", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// cleanContextPath: Docker resolves COPY sources and Tilt resolves `only` entries relative to
// the context, a leading "/" or "./" included.
func cleanContextPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/")
}

// buildContextProblems checks `only` and the Dockerfile's sources against the context.
func buildContextProblems(context string, d dockerBuild, dockerfileText string) (onlyProblems, copyProblems []string, sources []string) {
	var only []string
	for _, o := range d.only {
		c := cleanContextPath(o)
		only = append(only, c)
		if _, err := os.Stat(filepath.Join(context, c)); err != nil {
			onlyProblems = append(onlyProblems, fmt.Sprintf("only entry '%s' does not exist in the context", o))
		}
	}

	var ignorePatterns []string
	if f, err := os.Open(filepath.Join(context, ".dockerignore")); err == nil {
		ignorePatterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			copyProblems = append(copyProblems, fmt.Sprintf(".dockerignore: %v", err))
		}
	}
	dockerignore, err := patternmatcher.New(ignorePatterns)
	if err != nil {
		copyProblems = append(copyProblems, fmt.Sprintf(".dockerignore: %v", err))
	}
	tiltIgnore, err := patternmatcher.New(d.ignore)
	if err != nil {
		copyProblems = append(copyProblems, fmt.Sprintf("ignore: %v", err))
	}

	srcs, parseProblems := dockerfileCopySources(dockerfileText)
	copyProblems = append(copyProblems, parseProblems...)
	for _, s := range srcs {
		if strings.Contains(s.path, "$") {
			copyProblems = append(copyProblems, fmt.Sprintf("Dockerfile line %d: source '%s' uses a variable; cannot check it", s.line, s.path))
			continue
		}
		src := cleanContextPath(s.path)
		sources = append(sources, src)
		matches, _ := filepath.Glob(filepath.Join(context, src))
		if len(matches) == 0 {
			copyProblems = append(copyProblems, fmt.Sprintf("Dockerfile line %d: COPY source '%s' does not exist in the context", s.line, s.path))
			continue
		}
		// A glob source is judged by what it matches.
		for _, m := range matches {
			rel, _ := filepath.Rel(context, m)
			rel = filepath.ToSlash(rel)
			if len(only) > 0 && !coveredByOnly(rel, only) {
				copyProblems = append(copyProblems, fmt.Sprintf("Dockerfile line %d: COPY source '%s' is outside only=[%s], so Tilt's build context lacks it", s.line, rel, quoteList(d.only)))
			}
			if dockerignore != nil {
				if hit, _ := dockerignore.MatchesOrParentMatches(rel); hit {
					copyProblems = append(copyProblems, fmt.Sprintf("Dockerfile line %d: COPY source '%s' is excluded by .dockerignore", s.line, rel))
				}
			}
			if tiltIgnore != nil {
				if hit, _ := tiltIgnore.MatchesOrParentMatches(rel); hit {
					copyProblems = append(copyProblems, fmt.Sprintf("Dockerfile line %d: COPY source '%s' is excluded by docker_build ignore=", s.line, rel))
				}
			}
		}
	}
	return onlyProblems, copyProblems, sources
}

// coveredByOnly: the source is an `only` path or lies under one.
func coveredByOnly(src string, only []string) bool {
	for _, o := range only {
		if o == "" || src == o || strings.HasPrefix(src, o+"/") {
			return true
		}
	}
	return false
}
