package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// marathon-lb, when HAProxy refused a generated configuration, kept the
// old one for every app. Labels can pass every check here and still make
// HAProxy refuse the file (a certificate path that does not exist, a
// cipher list HAProxy does not know): one bad app must not stop the
// others. When a commit is refused, the apps whose objects changed are
// bisected with `only_validate` writes (nothing is written, the version
// does not move) until the ones HAProxy refuses are found; they are
// rejected as if their labels were invalid (what HAProxy has for them is
// kept) until their Marathon version changes, and the rest is applied.

// ErrRefusedByHAProxy is wrapped by the rejection of an app whose objects
// HAProxy's configuration check refused.
var ErrRefusedByHAProxy = errors.New("haproxy refuses the configuration with this app")

// refusal is an app HAProxy refused, at its Marathon version.
type refusal struct {
	version string
	err     error
}

// planInput is what a pass built its plan from, kept for isolate.
type planInput struct {
	apps     []marathon.App
	cfg      Config
	existing Existing
	current  *State
}

// withoutRefused drops the apps HAProxy refused at their current version
// and returns the rejections to report. A refused app whose definition
// changed (or that is gone) is judged again.
func (s *Syncer) withoutRefused(apps []marathon.App) ([]marathon.App, map[string][]error) {
	if len(s.refused) == 0 {
		return apps, nil
	}
	versions := appVersions(apps)
	rejected := map[string][]error{}
	for id, r := range s.refused {
		if versions[id] != r.version {
			delete(s.refused, id)
			continue
		}
		rejected[id] = []error{r.err}
	}
	out := make([]marathon.App, 0, len(apps))
	for _, a := range apps {
		if _, ok := rejected[refusalKey(a)]; !ok {
			out = append(out, a)
		}
	}
	return out, rejected
}

// appVersions maps each rejection key to its apps' Marathon versions.
func appVersions(apps []marathon.App) map[string]string {
	out := map[string]string{}
	for _, a := range apps {
		k := refusalKey(a)
		if v, ok := out[k]; ok {
			out[k] = v + "," + a.Version
		} else {
			out[k] = a.Version
		}
	}
	return out
}

// refusalKey is the id a rejection is reported under: the deployment
// group's for a blue/green app (that is the one build).
func refusalKey(a marathon.App) string {
	if g := a.Labels[labels.DeploymentGroup]; g != "" {
		if !strings.HasPrefix(g, "/") {
			g = "/" + g
		}
		return g
	}
	return a.ID
}

// isolate finds the apps HAProxy refuses, given that applying r's plan
// was refused with cause. It returns them, or none when the configuration
// is refused even without every changed app.
func (s *Syncer) isolate(ctx context.Context, r Result, cause error) (map[string]error, error) {
	in := r.input
	if in == nil || r.Plan.Desired == nil {
		return nil, nil
	}
	text, version, err := s.API.RawConfig(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read the configuration text: %w", err)
	}
	candidates := changedApps(in.current, r.Plan.Desired)
	checks := 0
	valid := func(reverted map[string]bool) (bool, error) {
		checks++
		var apps []marathon.App
		for _, a := range in.apps {
			if !reverted[refusalKey(a)] {
				apps = append(apps, a)
			}
		}
		b := BuildDesired(apps, in.cfg, s.Resolver, in.existing)
		for id := range reverted {
			b.Rejected[id] = append(b.Rejected[id], ErrRefusedByHAProxy)
		}
		for id, errs := range r.Build.Rejected {
			if _, ok := b.Rejected[id]; !ok {
				b.Rejected[id] = errs
			}
		}
		KeepRejected(in.current, b.State, b.Rejected)
		candidate, _ := renderOnto(text, Plan{Steps: r.Plan.Steps, Current: in.current, Desired: b.State}, nil, nil)
		_, err := s.API.PostRawConfig(ctx, version, candidate, dataplane.RawOptions{OnlyValidate: true})
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, dataplane.ErrInvalidConfig):
			return false, nil
		}
		return false, err
	}
	all := map[string]bool{}
	for _, id := range candidates {
		all[id] = true
	}
	if ok, err := valid(all); err != nil || !ok {
		// Not the apps' doing (the head, the base configuration) or
		// no answer: nothing to isolate.
		return nil, err
	}
	culprits, err := bisect(candidates, map[string]bool{}, valid)
	if err != nil {
		return nil, err
	}
	out := map[string]error{}
	for _, id := range culprits {
		out[id] = fmt.Errorf("app %s: %w (%d checks): %v", id, ErrRefusedByHAProxy, checks, cause)
	}
	return out, nil
}

// bisect returns the apps of group whose objects HAProxy refuses, given
// that the configuration is valid with group and reverted left out, and
// refused with only reverted left out.
func bisect(group []string, reverted map[string]bool, valid func(map[string]bool) (bool, error)) ([]string, error) {
	if len(group) == 1 {
		return []string{group[0]}, nil
	}
	a, b := group[:len(group)/2], group[len(group)/2:]
	with := func(extra ...[]string) map[string]bool {
		m := make(map[string]bool, len(reverted))
		for id := range reverted {
			m[id] = true
		}
		for _, ids := range extra {
			for _, id := range ids {
				m[id] = true
			}
		}
		return m
	}
	ok, err := valid(with(a))
	if err != nil {
		return nil, err
	}
	if ok {
		// Leaving a out is enough: the refused apps are in a.
		return bisect(a, reverted, valid)
	}
	// b holds refused apps (a left out is not enough).
	inB, err := bisect(b, with(a), valid)
	if err != nil {
		return nil, err
	}
	if ok, err := valid(with(inB)); err != nil || ok {
		return inB, err
	}
	inA, err := bisect(a, with(inB), valid)
	return append(slices.Clone(inB), inA...), err
}

// changedApps are the apps whose own objects differ between current and
// desired, sorted.
func changedApps(current, desired *State) []string {
	set := map[string]bool{}
	for name, be := range desired.Backends {
		if be.AppID != "" && (current == nil || !sameBackend(current.Backends[name], be)) {
			set[be.AppID] = true
		}
	}
	for name, fe := range desired.Frontends {
		if fe.AppID != "" && (current == nil || !sameFrontend(current.Frontends[name], fe)) {
			set[fe.AppID] = true
		}
	}
	for name, ul := range desired.Userlists {
		if ul.AppID != "" && (current == nil || current.Userlists[name] == nil) {
			set[ul.AppID] = true
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func sameBackend(a, b *Backend) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	var p Plan
	diffBackend(b.Backend.Name, a, b, DiffOptions{}, func(s Step) { p.Steps = append(p.Steps, s) })
	return p.Empty()
}

func sameFrontend(a, b *Frontend) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return DiffWith(&State{Frontends: map[string]*Frontend{b.Frontend.Name: a}}, &State{Frontends: map[string]*Frontend{b.Frontend.Name: b}}, DiffOptions{}).Empty()
}

// logRefused reports newly refused apps.
func (s *Syncer) logRefused(refused map[string]error) {
	for id, err := range refused {
		s.log().Error("HAProxy refuses the configuration with this app; it is rejected until its definition changes, what HAProxy has for it is kept",
			zap.String("app", id), zap.Error(err))
	}
}
