package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/bluegreen"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// zddCommand is marathon-lb's zdd.py (§9): a blue/green deployment of the
// app in --json, drained through the load balancers' stats, no reload.
func zddCommand() *cli.Command {
	flags := append(marathonFlags(),
		&cli.StringFlag{Name: "json", Aliases: []string{"j"}, Required: true, Usage: "the app definition file (with HAPROXY_DEPLOYMENT_GROUP and HAPROXY_DEPLOYMENT_ALT_PORT labels)"},
		&cli.StringFlag{Name: "marathon-lb", Aliases: []string{"l"}, EnvVars: []string{"MARATHON_LB"}, Usage: "the load balancers' stats base URL (http://marathon-lb:9090); every A record of its host is one instance"},
		&cli.StringFlag{Name: "haproxy-socket", EnvVars: []string{"HAPROXY_SOCKET"}, Usage: "read the drain state from this HAProxy's Runtime API socket instead of --marathon-lb"},
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"d"}, Usage: "print the prepared app definition and stop"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask before deploying, killing or deleting"},
		&cli.StringFlag{Name: "step-delay", Aliases: []string{"s"}, Value: "5", Usage: "pause between checks: seconds (zdd) or a duration (500ms)"},
		&cli.IntFlag{Name: "initial-instances", Aliases: []string{"i"}, Value: 1, Usage: "instances the new app starts with"},
		&cli.IntFlag{Name: "linear-increase", Usage: "grow the new app by this many instances a step (0: by half, zdd's default)"},
		&cli.BoolFlag{Name: "resume", Aliases: []string{"r"}, Usage: "continue an interrupted deployment"},
		&cli.StringFlag{Name: "max-wait", Aliases: []string{"w"}, Value: "300", Usage: "how long to wait for drained servers in a round, and for the new tasks to turn healthy (then: roll back): seconds or a duration"},
		&cli.IntFlag{Name: "new-instances", Aliases: []string{"n"}, Usage: "traffic split: run only this many new instances next to the old app"},
		&cli.BoolFlag{Name: "complete-cur", Aliases: []string{"c"}, Usage: "move a split deployment entirely to the new app"},
		&cli.BoolFlag{Name: "complete-prev", Aliases: []string{"p"}, Usage: "move a split deployment back to the previous app (rollback)"},
		&cli.StringFlag{Name: "pre-kill-hook", Usage: "run before each kill as: hook <old app JSON> <task ids JSON> <new app JSON>; non-zero stops the deployment"},
	)
	return &cli.Command{
		Name:  "zdd",
		Usage: "zero-downtime blue/green deployment of an app (marathon-lb's zdd), drained without reloads",
		UsageText: "marathon-dataplane zdd --marathon http://marathon:8080 --marathon-lb http://marathon-lb:9090 --json app.json\n" +
			"marathon-dataplane zdd ... --new-instances 2     (a traffic split)\n" +
			"marathon-dataplane zdd ... --complete-cur        (finish it; --complete-prev goes back)",
		Description: "Exit codes (zdd's): 0 done or dry run, 1 answered no, 2 failed (also: rolled back), 3 invalid arguments,\n" +
			"4 missing field, 5 load balancer error, 6 Marathon error, 7 create failed, 8 delete failed, 9 scale or kill failed.",
		Flags:  flags,
		Action: runZDD,
	}
}

// seconds reads zdd's number of seconds, or a Go duration.
func seconds(flag, v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--%s %q: want seconds or a duration", flag, v)
	}
	return d, nil
}

func runZDD(c *cli.Context) error {
	log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return cli.Exit(err.Error(), bluegreen.ExitInvalidArgs)
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	step, err := seconds("step-delay", c.String("step-delay"))
	if err != nil {
		return cli.Exit(err.Error(), bluegreen.ExitInvalidArgs)
	}
	maxWait, err := seconds("max-wait", c.String("max-wait"))
	if err != nil {
		return cli.Exit(err.Error(), bluegreen.ExitInvalidArgs)
	}
	if c.Bool("complete-cur") && c.Bool("complete-prev") {
		return cli.Exit("--complete-cur and --complete-prev exclude each other", bluegreen.ExitInvalidArgs)
	}
	raw, err := os.ReadFile(c.String("json"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--json: %v", err), bluegreen.ExitInvalidArgs)
	}
	def, err := bluegreen.ParseDefinition(raw)
	if err != nil {
		return exitFor(err)
	}
	mcfg, err := marathonConfig(c, log)
	if err != nil {
		return cli.Exit(err.Error(), bluegreen.ExitInvalidArgs)
	}
	mc, err := marathon.New(mcfg)
	if err != nil {
		return cli.Exit(fmt.Sprintf("marathon client: %v", err), bluegreen.ExitInvalidArgs)
	}
	var stats bluegreen.Stats
	switch {
	case c.String("haproxy-socket") != "":
		rt, err := runtimeapi.New(c.String("haproxy-socket"))
		if err != nil {
			return cli.Exit(fmt.Sprintf("--haproxy-socket: %v", err), bluegreen.ExitInvalidArgs)
		}
		stats = bluegreen.SocketStats{Client: rt}
	case c.String("marathon-lb") != "":
		h, err := bluegreen.NewHTTPStats(c.String("marathon-lb"), 10*time.Second)
		if err != nil {
			return cli.Exit(err.Error(), bluegreen.ExitInvalidArgs)
		}
		stats = h
	case !c.Bool("dry-run"):
		return cli.Exit("--marathon-lb or --haproxy-socket is required (where to read the drain state)", bluegreen.ExitInvalidArgs)
	}
	d := &bluegreen.Deployer{
		Marathon: mc, Stats: stats, Log: log,
		Options: bluegreen.Options{InitialInstances: c.Int("initial-instances"), NewInstances: c.Int("new-instances"),
			CompleteCur: c.Bool("complete-cur"), CompletePrev: c.Bool("complete-prev"), Resume: c.Bool("resume")},
		StepDelay: step, MaxWait: maxWait, LinearIncrease: c.Int("linear-increase"),
		Force: c.Bool("force"), DryRun: c.Bool("dry-run"), PreKillHook: c.String("pre-kill-hook"),
		Out: c.App.Writer, Confirm: prompt(c.App.Reader, c.App.ErrWriter),
	}
	// Interrupted (Ctrl-C), the deployment stops between steps; --resume
	// continues it.
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sum, err := d.Run(ctx, def)
	log.Info("zdd finished", zap.String("group", sum.Group), zap.String("old", sum.OldID), zap.String("new", sum.NewID),
		zap.Bool("created", sum.Created), zap.Int("killed", sum.Killed), zap.Bool("old_deleted", sum.Deleted),
		zap.Bool("rolled_back", sum.RolledBack), zap.Duration("duration", sum.Duration), zap.Error(err))
	if err != nil {
		return exitFor(err)
	}
	return nil
}

// prompt asks on the terminal; without one (and without --force) the
// answer is an error, never a silent yes.
func prompt(in io.Reader, out io.Writer) func(string) (bool, error) {
	if in == nil {
		in = os.Stdin
	}
	r := bufio.NewReader(in)
	return func(q string) (bool, error) {
		if f, ok := in.(*os.File); ok {
			if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
				return false, errors.New("no terminal to ask on; use --force")
			}
		}
		fmt.Fprintf(out, "%s [y/N] ", q)
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return false, err
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}

func exitFor(err error) error {
	var be *bluegreen.Error
	if errors.As(err, &be) {
		return cli.Exit(err.Error(), be.Code)
	}
	return cli.Exit(err.Error(), bluegreen.ExitFailed)
}
