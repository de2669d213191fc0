package registry

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/baton-run/baton/event"
)

// MaxAliasLen is the longest alias name.
const MaxAliasLen = 63

// maxUpdateAttempts bounds the compare-and-set retries of one alias
// update. Every conflict means another writer succeeded, so this many
// concurrent writers of one function always get through.
const maxUpdateAttempts = 64

var aliasRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// ValidAlias reports whether name can be an alias: a lower-case letter
// then letters, digits or '-', at most MaxAliasLen bytes. (Starting with
// a letter keeps "NAME:3" unambiguous: a number is always a version.)
func ValidAlias(name string) bool {
	return len(name) <= MaxAliasLen && aliasRE.MatchString(name)
}

// Alias is one alias of a function: the version it names and, for a
// canary, the percent of its invocations that run other versions instead.
type Alias struct {
	Name    string      `json:"name"`
	Version int         `json:"version"`
	Weights map[int]int `json:"weights,omitempty"`
}

// Alias returns the alias called name.
func (f *Function) Alias(name string) (Alias, bool) {
	n, ok := f.Aliases[name]
	if !ok {
		return Alias{}, false
	}
	return Alias{Name: name, Version: n, Weights: f.Weights[name]}, true
}

// AliasList returns every alias, sorted by name.
func (f *Function) AliasList() []Alias {
	out := make([]Alias, 0, len(f.Aliases))
	for name := range f.Aliases {
		a, _ := f.Alias(name)
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// References reports whether an alias, or an alias's weights, point at
// version: such a version may be invoked without a qualifier naming it.
func (f *Function) References(version int) bool {
	for _, v := range f.Aliases {
		if v == version {
			return true
		}
	}
	for _, w := range f.Weights {
		if _, ok := w[version]; ok {
			return true
		}
	}
	return false
}

// Route returns the version one invocation of qualifier runs. It is
// Resolve, except that an alias with weights (and "" when live has
// weights) picks among its versions with Pick, given r, a uniformly
// random number in [0, 100).
func (f *Function) Route(qualifier string, r int) *Version {
	alias := qualifier
	if alias == "" {
		if _, ok := f.Aliases[AliasLive]; !ok {
			return f.Version(f.Latest)
		}
		alias = AliasLive
	}
	n, ok := f.Aliases[alias]
	if !ok {
		return f.Resolve(qualifier)
	}
	if w := f.Weights[alias]; len(w) > 0 {
		if v := f.Version(Pick(n, w, r)); v != nil {
			return v
		}
	}
	return f.Version(n)
}

// Reachable calls yield with every version an invocation of qualifier
// may run (with Route): the version it names, or an alias's version and
// its weighted ones; it stops when yield returns false.
func (f *Function) Reachable(qualifier string, yield func(*Version) bool) {
	alias := qualifier
	if alias == "" {
		if _, ok := f.Aliases[AliasLive]; !ok {
			if v := f.Version(f.Latest); v != nil {
				yield(v)
			}
			return
		}
		alias = AliasLive
	}
	n, ok := f.Aliases[alias]
	if !ok {
		if v := f.Resolve(qualifier); v != nil {
			yield(v)
		}
		return
	}
	if v := f.Version(n); v != nil && !yield(v) {
		return
	}
	for w := range f.Weights[alias] {
		if v := f.Version(w); v != nil && !yield(v) {
			return
		}
	}
}

// NeedsToken reports whether an invocation of qualifier needs the admin
// token: when any version it may run says auth token (a canary of a
// token-protected version must not open it to callers without one).
func (f *Function) NeedsToken(qualifier string) bool {
	needs := false
	f.Reachable(qualifier, func(v *Version) bool {
		needs = v.Spec.Auth == AuthToken
		return !needs
	})
	return needs
}

// Pick chooses among an alias's own version (primary) and its weighted
// versions (version → percent, summing to less than 100), given r in
// [0, 100): the weighted versions take consecutive ranges of r in
// ascending version order, starting at 0, and primary takes the rest. A
// uniformly random r therefore runs each weighted version its percent of
// the time. Pick is pure and does not allocate for up to 8 weights.
func Pick(primary int, weights map[int]int, r int) int {
	switch len(weights) {
	case 0:
		return primary
	case 1:
		for v, w := range weights {
			if r < w {
				return v
			}
		}
		return primary
	}
	var buf [8]int
	versions := buf[:0]
	for v := range weights {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	cum := 0
	for _, v := range versions {
		cum += weights[v]
		if r < cum {
			return v
		}
	}
	return primary
}

// CheckAlias says what is wrong with pointing alias at version with
// weights in fn, naming the field: an *event.Error with code bad_request
// (alias, weights) or function_not_found (a version that does not exist).
func CheckAlias(fn *Function, alias string, version int, weights map[int]int) error {
	switch {
	case alias == AliasLatest:
		return event.Errorf(event.CodeBadRequest, "alias: %q is reserved: it always names the newest version", alias)
	case !ValidAlias(alias):
		return event.Errorf(event.CodeBadRequest, "alias: %q must be 1-%d lower-case letters, digits or '-', starting with a letter", alias, MaxAliasLen)
	case version <= 0:
		return event.Errorf(event.CodeBadRequest, "version: %d is not a version number (1, 2, 3…)", version)
	case fn.Version(version) == nil:
		return event.Errorf(event.CodeFunctionNotFound, "function %q has no version %d", fn.Name, version)
	}
	versions := make([]int, 0, len(weights))
	for v := range weights {
		versions = append(versions, v)
	}
	slices.Sort(versions) // name the same problem every time
	sum := 0
	for _, v := range versions {
		w := weights[v]
		switch {
		case v == version:
			return event.Errorf(event.CodeBadRequest, "weights: version %d is the alias's own version; weights name the other versions it sends a share to", v)
		case w < 1 || w > 99:
			return event.Errorf(event.CodeBadRequest, "weights: version %d has weight %d, outside 1-99 (percent)", v, w)
		case fn.Version(v) == nil:
			return event.Errorf(event.CodeFunctionNotFound, "weights: function %q has no version %d", fn.Name, v)
		}
		sum += w
	}
	if sum >= 100 {
		return event.Errorf(event.CodeBadRequest, "weights: they add up to %d%%, which leaves nothing for version %d; keep the sum below 100", sum, version)
	}
	return nil
}

// RollbackTarget decides what Rollback does to fn: live moves from the
// version it names (the latest when unset) to the version before it. It
// is an error with code bad_request when there is none.
func RollbackTarget(fn *Function) (from, to int, err error) {
	from = fn.Latest
	if n, ok := fn.Aliases[AliasLive]; ok {
		from = n
	}
	to = 0
	for _, v := range fn.Versions {
		if v.Version < from && v.Version > to {
			to = v.Version
		}
	}
	if to == 0 {
		return from, 0, event.Errorf(event.CodeBadRequest, "function %q: live is at version %d and there is no earlier version to roll back to", fn.Name, from)
	}
	return from, to, nil
}

// update applies change to the stored record of name with compare-and-set,
// redoing it on top of a concurrent writer's record, and returns what was
// stored. change must decide from fn alone (it may run several times).
func (r *Registry) update(ctx context.Context, name string, change func(fn *Function) error) (*Function, error) {
	for attempt := 0; ; attempt++ {
		fn, rev, err := r.get(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := change(fn); err != nil {
			return nil, err
		}
		if err := r.put(ctx, fn, rev); err != nil {
			if isConflict(err) && attempt < maxUpdateAttempts {
				continue
			}
			return nil, fmt.Errorf("updating %q: %w", name, err)
		}
		return fn, nil
	}
}

// SetAlias points alias of function name at version, with weights (extra
// version → percent) for a canary, or none. It replaces what the alias
// named before. Errors are CheckAlias's, or function_not_found.
func (r *Registry) SetAlias(ctx context.Context, name, alias string, version int, weights map[int]int) (*Function, error) {
	var w map[int]int
	if len(weights) > 0 {
		w = make(map[int]int, len(weights))
		for v, p := range weights {
			w[v] = p
		}
	}
	return r.update(ctx, name, func(fn *Function) error {
		if err := CheckAlias(fn, alias, version, w); err != nil {
			return err
		}
		fn.Aliases[alias] = version
		if w == nil {
			delete(fn.Weights, alias)
		} else {
			if fn.Weights == nil {
				fn.Weights = map[string]map[int]int{}
			}
			fn.Weights[alias] = w
		}
		if len(fn.Weights) == 0 {
			fn.Weights = nil
		}
		return nil
	})
}

// DeleteAlias removes alias of function name; "latest" cannot be removed.
// A missing alias is an error with code not_found.
func (r *Registry) DeleteAlias(ctx context.Context, name, alias string) (*Function, error) {
	if alias == AliasLatest {
		return nil, event.Errorf(event.CodeBadRequest, "alias: %q is reserved: it always names the newest version", alias)
	}
	return r.update(ctx, name, func(fn *Function) error {
		if _, ok := fn.Aliases[alias]; !ok {
			return event.Errorf(event.CodeNotFound, "function %q has no alias %q", name, alias)
		}
		delete(fn.Aliases, alias)
		delete(fn.Weights, alias)
		if len(fn.Weights) == 0 {
			fn.Weights = nil
		}
		return nil
	})
}

// Rollback is what a rollback did.
type Rollback struct {
	Function *Function
	From, To int
}

// Rollback points live at the version before the one it names now (the
// latest when live is unset), dropping live's weights. A function at its
// first version gets an error with code bad_request.
func (r *Registry) Rollback(ctx context.Context, name string) (*Rollback, error) {
	var from, to int
	fn, err := r.update(ctx, name, func(fn *Function) error {
		var err error
		if from, to, err = RollbackTarget(fn); err != nil {
			return err
		}
		fn.Aliases[AliasLive] = to
		delete(fn.Weights, AliasLive)
		if len(fn.Weights) == 0 {
			fn.Weights = nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Rollback{Function: fn, From: from, To: to}, nil
}
