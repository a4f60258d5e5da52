// promeval evaluates one alert of a PrometheusRule with Prometheus's own PromQL engine over
// metrics scraped from a running process, the way `promtool test rules` evaluates a rule over
// its input series (github.com/prometheus/prometheus/cmd/promtool/unittest.go), so a test can
// show that an alert's expression fires on real values without running a Prometheus server.
//
//	promeval -rules RULES.yaml -alert NAME [-interval 15s] [-label name=value]... SCRAPE...
//
// RULES.yaml holds YAML documents (helm's rendered output, say); the alert is found in any
// document's spec.groups[].rules[]. Each SCRAPE is one /metrics answer in the text exposition
// format, taken -interval apart, oldest first, the last one now; every -label is added to each
// series, as Prometheus adds its target's labels (`namespace`, say). The expression is
// evaluated at the last scrape, so time() is the present.
// Exit status: 0 when it returns at least one series (the alert fires), 1 when it returns none,
// 2 on bad input.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"go.yaml.in/yaml/v3"
)

type rule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
}

type document struct {
	Spec struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

func main() {
	rulesFile := flag.String("rules", "", "YAML documents holding a PrometheusRule")
	alert := flag.String("alert", "", "the alert to evaluate")
	interval := flag.Duration("interval", 15*time.Second, "time between two scrapes")
	var labels targetLabels
	flag.Var(&labels, "label", "name=value added to every series (repeatable)")
	flag.Parse()
	if *rulesFile == "" || *alert == "" || flag.NArg() == 0 {
		fail("usage: promeval -rules RULES.yaml -alert NAME [-interval 15s] SCRAPE...")
	}
	expr, err := findAlert(*rulesFile, *alert)
	if err != nil {
		fail(err.Error())
	}
	load, err := loadCommand(*interval, flag.Args(), labels)
	if err != nil {
		fail(err.Error())
	}
	// Whole seconds: the load command's steps start at StartTime.
	last := time.Now().UTC().Truncate(time.Second)
	start := last.Add(-time.Duration(flag.NArg()-1) * *interval)
	suite, err := promqltest.NewLazyLoader(load, promqltest.LazyLoaderOpts{
		EnableAtModifier: true, EnableNegativeOffset: true, StartTime: start,
	})
	if err != nil {
		fail("loading the scrapes: " + err.Error())
	}
	defer suite.Close()
	at := last
	var result string
	var fired bool
	suite.WithSamplesTill(at, func(err error) {
		if err != nil {
			fail("loading the scrapes: " + err.Error())
		}
		q, err := suite.QueryEngine().NewInstantQuery(suite.Context(), suite.Queryable(), nil, expr, at)
		if err != nil {
			fail(fmt.Sprintf("alert %s: %v", *alert, err))
		}
		res := q.Exec(suite.Context())
		if res.Err != nil {
			fail(fmt.Sprintf("alert %s: %v", *alert, res.Err))
		}
		vector, err := res.Vector()
		if err != nil {
			fail(fmt.Sprintf("alert %s: %v", *alert, err))
		}
		fired = len(vector) > 0
		result = res.String()
	})
	fmt.Printf("alert %s: %s\n", *alert, strings.Join(strings.Fields(expr), " "))
	if fired {
		fmt.Printf("fires at the last of %d scrapes:\n%s\n", flag.NArg(), result)
		return
	}
	fmt.Printf("does not fire at the last of %d scrapes\n", flag.NArg())
	os.Exit(1)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "promeval: "+msg)
	os.Exit(2)
}

func findAlert(path, name string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var doc document
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("no alert %q in %s", name, path)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %v", path, err)
		}
		for _, g := range doc.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == name {
					return r.Expr, nil
				}
			}
		}
	}
}

// loadCommand turns the scrapes into promqltest's `load` command: one line per series with its
// value in each scrape, `_` where a scrape lacks it.
func loadCommand(interval time.Duration, scrapes []string, labels targetLabels) (string, error) {
	values := map[string][]string{}
	for i, path := range scrapes {
		samples, err := readScrape(path, labels)
		if err != nil {
			return "", err
		}
		for series, value := range samples {
			if values[series] == nil {
				values[series] = make([]string, len(scrapes))
				for j := range values[series] {
					values[series][j] = "_"
				}
			}
			values[series][i] = value
		}
	}
	names := make([]string, 0, len(values))
	for series := range values {
		names = append(names, series)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "load %s\n", interval)
	for _, series := range names {
		fmt.Fprintf(&b, "  %s %s\n", series, strings.Join(values[series], " "))
	}
	return b.String(), nil
}

// readScrape reads the samples of one text-format scrape (no timestamps: our processes write
// none). The series is everything before the last space, already PromQL's series syntax.
func readScrape(path string, labels targetLabels) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	samples := map[string]string{}
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimSpace(scanner.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cut := strings.LastIndexByte(text, ' ')
		if cut < 0 {
			return nil, fmt.Errorf("%s:%d: not a sample: %q", path, line, text)
		}
		series, value := labels.add(text[:cut]), text[cut+1:]
		// The text format's +Inf is the load command's Inf (-Inf and NaN read alike).
		if value == "+Inf" {
			value = "Inf"
		}
		samples[series] = value
	}
	return samples, scanner.Err()
}

// targetLabels are the -label flags, already in PromQL's `name="value"` syntax.
type targetLabels []string

func (l *targetLabels) String() string { return strings.Join(*l, ",") }

func (l *targetLabels) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	*l = append(*l, fmt.Sprintf("%s=%q", name, value))
	return nil
}

// add puts the labels into a series: `m` becomes `m{a="b"}`, `m{x="y"}` becomes
// `m{a="b",x="y"}`.
func (l targetLabels) add(series string) string {
	if len(l) == 0 {
		return series
	}
	joined := strings.Join(l, ",")
	name, rest, braces := strings.Cut(series, "{")
	if !braces {
		return series + "{" + joined + "}"
	}
	if strings.HasPrefix(rest, "}") {
		return name + "{" + joined + rest
	}
	return name + "{" + joined + "," + rest
}
