package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "one-shot: make HAProxy match Marathon now, then exit",
		UsageText: "marathon-dataplane sync --marathon http://marathon:8080 --group external \\\n" +
			"    --dataplane-url http://127.0.0.1:5555 --dataplane-password-file /run/secrets/dataplane \\\n" +
			"    --haproxy-socket /var/run/haproxy/haproxy.sock\n" +
			"marathon-dataplane sync --dry ...      (print the plan, write nothing)",
		Description: "Exit codes: 0 everything applied, 1 failed (nothing or not all written), 2 partial\n" +
			"(applied, but some apps were rejected for invalid labels or conflicts; what HAProxy\n" +
			"already had for them is kept).",
		Flags: append(commonFlags(),
			&cli.BoolFlag{Name: "dry", Aliases: []string{"d"}, EnvVars: []string{"DRY"}, Usage: "print the plan and write nothing (same as the plan command)"},
			outputFlag(),
		),
		Action: func(c *cli.Context) error { return runSync(c, c.Bool("dry")) },
	}
}

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "print the structured diff between Marathon and HAProxy; writes nothing",
		UsageText: "marathon-dataplane plan --marathon http://marathon:8080 --group '*' --dataplane-url http://127.0.0.1:5555 -o json",
		Flags:     append(commonFlags(), outputFlag()),
		Action:    func(c *cli.Context) error { return runSync(c, true) },
	}
}

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, EnvVars: []string{"OUTPUT"}, Value: "text", Usage: "plan output: text or json"}
}

func runSync(c *cli.Context, dry bool) error {
	o, err := parseOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer o.log.Sync() //nolint:errcheck // best effort on exit
	if f := c.String("output"); f != "text" && f != "json" {
		return cli.Exit(fmt.Sprintf("--output %q: want text or json", f), exitFailed)
	}
	if !dry {
		if err := o.prepareCerts(); err != nil {
			return cli.Exit(fmt.Sprintf("certificates for marathon_https_in: %v", err), exitFailed)
		}
	}
	mc, err := marathon.New(o.marathon)
	if err != nil {
		return cli.Exit(fmt.Sprintf("marathon client: %v", err), exitFailed)
	}
	dc, err := dataplane.New(o.dataplane)
	if err != nil {
		return cli.Exit(fmt.Sprintf("data plane api client: %v", err), exitFailed)
	}
	s := &sync.Syncer{Apps: mc, API: dc, Resolver: sync.NewDNSResolver(time.Minute, 1000), Config: o.sync, Log: o.log, DrainGrace: o.drainGrace,
		EmptyConfirmations: o.emptyConfirmations}
	rt, err := o.runtimeClient()
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	s.Maps = dc
	if rt != nil {
		s.Runtime, s.RuntimeMaps = rt, rt
	}

	var r sync.Result
	if dry {
		r, err = s.Plan(c.Context)
	} else {
		r, err = s.Sync(c.Context)
	}
	if err != nil {
		o.log.Error("sync failed", zap.Error(err))
		return cli.Exit(err.Error(), exitFailed)
	}
	if rt != nil {
		if code, msg := verifyLive(c, o, rt, r, dry); code != exitOK {
			return cli.Exit(msg, code)
		}
	}
	if dry {
		if err := printPlan(c.App.Writer, c.String("output"), r); err != nil {
			return cli.Exit(err.Error(), exitFailed)
		}
	} else {
		fmt.Fprintf(c.App.Writer, "synced: %d backends, %d servers, %s, %d apps rejected, reload %s\n",
			len(r.Build.State.Backends), r.Build.State.ServerCount(), appliedSummary(r.Applied),
			len(r.Build.Rejected), orNone(r.Applied.ReloadID))
	}
	if r.Partial() {
		return cli.Exit(rejectedSummary(r), exitPartial)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func rejectedSummary(r sync.Result) string {
	apps := make([]string, 0, len(r.Build.Rejected))
	for a := range r.Build.Rejected {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	msg := fmt.Sprintf("%d app(s) rejected:", len(apps))
	for _, a := range apps {
		for _, e := range r.Build.Rejected[a] {
			msg += "\n  " + e.Error()
		}
	}
	return msg
}

// planOutput is the JSON form of `plan -o json`.
type planOutput struct {
	Steps      []sync.Step           `json:"steps"`
	Reload     bool                  `json:"reload"`
	Rejected   map[string][]string   `json:"rejected"`
	Services   []sync.ServiceInfo    `json:"services"`
	NotExposed []sync.SkippedService `json:"not_exposed"`
	Warnings   []string              `json:"warnings"`
}

func printPlan(w io.Writer, format string, r sync.Result) error {
	if format == "json" {
		out := planOutput{Steps: r.Plan.Steps, Reload: r.Plan.NeedsReload(), Rejected: map[string][]string{},
			Services: r.Build.ServicesWithServers(), NotExposed: r.Build.Skipped, Warnings: r.Build.Warnings}
		if out.Steps == nil {
			out.Steps = []sync.Step{}
		}
		for a, errs := range r.Build.Rejected {
			for _, e := range errs {
				out.Rejected[a] = append(out.Rejected[a], e.Error())
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if r.Plan.Empty() {
		fmt.Fprintln(w, "No changes: HAProxy matches Marathon.")
	}
	for _, s := range r.Plan.Steps {
		fmt.Fprintln(w, s.String())
	}
	fmt.Fprintf(w, "%d steps (%d runtime, %d transaction, %d full); applied as %s; reload needed: %v\n",
		len(r.Plan.Steps), r.Plan.Count(sync.Runtime), r.Plan.Count(sync.Transaction), r.Plan.Count(sync.Full),
		r.Plan.Strategy(), r.Plan.NeedsReload())
	return nil
}

// appliedSummary says how many steps went which way.
func appliedSummary(a sync.ApplyResult) string {
	return fmt.Sprintf("%d full, %d transaction, %d runtime steps", a.FullSteps, a.TransactionSteps, a.RuntimeSteps)
}

// verifyLive reads the servers HAProxy runs through the Runtime API and
// compares them with what was just applied (or, for a plan, with what
// Marathon wants). After a sync any difference is a failure: HAProxy does
// not run what the Data Plane API committed.
func verifyLive(c *cli.Context, o *options, rt sync.LiveServers, r sync.Result, dry bool) (int, string) {
	diffs, err := sync.VerifyLive(c.Context, rt, r.Build.State)
	if err != nil {
		return exitFailed, err.Error()
	}
	for _, d := range diffs {
		if dry {
			fmt.Fprintln(c.App.Writer, "live: "+d)
		} else {
			o.log.Error("HAProxy does not run what was applied", zap.String("difference", d))
		}
	}
	if len(diffs) > 0 && !dry {
		return exitFailed, fmt.Sprintf("HAProxy does not run what was applied (%d differences; see the log)", len(diffs))
	}
	return exitOK, ""
}
