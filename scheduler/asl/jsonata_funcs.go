package asl

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	mrand "math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type jbuiltin = func(ev *jeval, args []any) (any, error)

var jbuiltins map[string]jbuiltin

func init() {
	jbuiltins = map[string]jbuiltin{
		"string":          jfString,
		"number":          jfNumber,
		"boolean":         func(_ *jeval, a []any) (any, error) { return jtruthyDef(argOr(a, 0)), nil },
		"not":             jfNot,
		"exists":          func(_ *jeval, a []any) (any, error) { return !isUndef(argOr(a, 0)), nil },
		"count":           jfCount,
		"sum":             jfAgg("sum"),
		"max":             jfAgg("max"),
		"min":             jfAgg("min"),
		"average":         jfAgg("average"),
		"length":          jfLength,
		"substring":       jfSubstring,
		"substringBefore": jfSubstrBA(true),
		"substringAfter":  jfSubstrBA(false),
		"uppercase":       jfStrMap(strings.ToUpper),
		"lowercase":       jfStrMap(strings.ToLower),
		"trim":            jfStrMap(func(s string) string { return strings.Join(strings.Fields(s), " ") }),
		"join":            jfJoin,
		"split":           jfSplit,
		"contains":        jfContains,
		"replace":         jfReplace,
		"match":           jfMatch,
		"keys":            jfKeys,
		"lookup":          jfLookup,
		"merge":           jfMerge,
		"append":          jfAppend,
		"sort":            jfSort,
		"reverse":         jfReverse,
		"distinct":        jfDistinct,
		"shuffle":         jfShuffle,
		"type":            jfType,
		"abs":             jfMath(math.Abs),
		"floor":           jfMath(math.Floor),
		"ceil":            jfMath(math.Ceil),
		"sqrt":            jfMath(math.Sqrt),
		"round":           jfRound,
		"power":           jfPower,
		"now":             func(_ *jeval, _ []any) (any, error) { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), nil },
		"millis":          func(_ *jeval, _ []any) (any, error) { return float64(time.Now().UnixMilli()), nil },
		"toMillis":        jfToMillis,
		"fromMillis":      jfFromMillis,
		"random":          jfRandom,
		"uuid":            func(_ *jeval, _ []any) (any, error) { return newUUID(), nil },
		"partition":       jfPartition,
		"range":           jfRange,
		"hash":            jfHash,
		"parse":           jfParse,
		"base64encode":    jfB64(true),
		"base64decode":    jfB64(false),
		"map":             jfMap,
		"filter":          jfFilter,
		"reduce":          jfReduce,
		"each":            jfEach,
		"spread":          jfSpread,
		"single":          jfSingle,
		"error":           func(_ *jeval, a []any) (any, error) { s, _ := argOr(a, 0).(string); return nil, fmt.Errorf("%s", s) },
		"assert":          jfAssert,
		"zip":             jfZip,
		"flatten":         jfFlatten,
	}
}

func argOr(a []any, i int) any {
	if i < len(a) {
		return a[i]
	}
	return undefined
}

func jtruthyDef(v any) any {
	if isUndef(v) {
		return undefined
	}
	return jtruthy(v)
}

// jstring is $string: JSON for structures, JSONata number formatting.
func jstring(v any) (string, error) {
	switch t := v.(type) {
	case undefinedT:
		return "", nil
	case string:
		return t, nil
	case *jfunc:
		return "", nil
	}
	if f, ok := num(v); ok {
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return "", fmt.Errorf("cannot convert a non-finite number to a string")
		}
		return formatJNumber(f), nil
	}
	return encodeJSON(toJSONValue(v)), nil
}

func formatJNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'g', 15, 64)
	if strings.ContainsAny(s, "e") {
		return s
	}
	if p, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(p, 'f', -1, 64)
	}
	return s
}

func jfString(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	return jstring(v)
}

func jfNumber(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	switch t := v.(type) {
	case undefinedT:
		return undefined, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			if strings.HasPrefix(t, "0x") {
				if n, err := strconv.ParseInt(t[2:], 16, 64); err == nil {
					return float64(n), nil
				}
			}
			return nil, fmt.Errorf("unable to cast %q to a number", t)
		}
		return f, nil
	case bool:
		if t {
			return 1.0, nil
		}
		return 0.0, nil
	}
	if f, ok := num(v); ok {
		return f, nil
	}
	return nil, fmt.Errorf("unable to cast a %s to a number", typeName(toJSONValue(v)))
}

func jfNot(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	return !jtruthy(v), nil
}

func arrayArg(v any) []any {
	switch t := v.(type) {
	case undefinedT:
		return nil
	case []any:
		return t
	case jseq:
		return []any(t)
	}
	return []any{v}
}

func jfCount(_ *jeval, a []any) (any, error) {
	return float64(len(arrayArg(argOr(a, 0)))), nil
}

func jfAgg(kind string) jbuiltin {
	return func(_ *jeval, a []any) (any, error) {
		v := argOr(a, 0)
		if isUndef(v) {
			return undefined, nil
		}
		arr := arrayArg(v)
		if len(arr) == 0 {
			if kind == "sum" {
				return 0.0, nil
			}
			return undefined, nil
		}
		var acc float64
		for i, x := range arr {
			f, ok := num(x)
			if !ok {
				return nil, fmt.Errorf("the array must contain only numbers")
			}
			switch {
			case i == 0 && kind != "sum" && kind != "average":
				acc = f
			case kind == "max":
				acc = math.Max(acc, f)
			case kind == "min":
				acc = math.Min(acc, f)
			default:
				acc += f
			}
		}
		if kind == "average" {
			acc /= float64(len(arr))
		}
		return acc, nil
	}
}

func strArg(a []any, i int) (string, bool, error) {
	v := argOr(a, i)
	if isUndef(v) {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, fmt.Errorf("argument %d must be a string, got %s", i+1, typeName(toJSONValue(v)))
	}
	return s, true, nil
}

func jfLength(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	return float64(utf8.RuneCountInString(s)), nil
}

func jfSubstring(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	r := []rune(s)
	start, _ := num(argOr(a, 1))
	st := int(start)
	if st < 0 {
		st = max(len(r)+st, 0)
	}
	if st > len(r) {
		return "", nil
	}
	end := len(r)
	if l, ok := num(argOr(a, 2)); ok {
		end = min(st+max(int(l), 0), len(r))
	}
	return string(r[st:end]), nil
}

func jfSubstrBA(before bool) jbuiltin {
	return func(_ *jeval, a []any) (any, error) {
		s, ok, err := strArg(a, 0)
		if err != nil || !ok {
			return undefined, err
		}
		sep, _, err := strArg(a, 1)
		if err != nil {
			return nil, err
		}
		i := strings.Index(s, sep)
		if i < 0 {
			return s, nil
		}
		if before {
			return s[:i], nil
		}
		return s[i+len(sep):], nil
	}
}

func jfStrMap(f func(string) string) jbuiltin {
	return func(_ *jeval, a []any) (any, error) {
		s, ok, err := strArg(a, 0)
		if err != nil || !ok {
			return undefined, err
		}
		return f(s), nil
	}
}

func jfJoin(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	sep, _, err := strArg(a, 1)
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, x := range arrayArg(v) {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("the array must contain only strings")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, sep), nil
}

func jfSplit(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	limit := -1
	if l, ok := num(argOr(a, 2)); ok {
		limit = int(l)
	}
	var parts []string
	switch sep := argOr(a, 1).(type) {
	case string:
		if sep == "" {
			for _, r := range s {
				parts = append(parts, string(r))
			}
		} else {
			parts = strings.Split(s, sep)
		}
	case *regexp.Regexp:
		parts = sep.Split(s, -1)
	default:
		return nil, fmt.Errorf("the separator must be a string or a regex")
	}
	if limit >= 0 && limit < len(parts) {
		parts = parts[:limit]
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func jfContains(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	switch p := argOr(a, 1).(type) {
	case string:
		return strings.Contains(s, p), nil
	case *regexp.Regexp:
		return p.MatchString(s), nil
	}
	return nil, fmt.Errorf("the pattern must be a string or a regex")
}

func jfReplace(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	rep, isStr := argOr(a, 2).(string)
	if !isStr {
		return nil, fmt.Errorf("the replacement must be a string")
	}
	limit := -1
	if l, ok := num(argOr(a, 3)); ok {
		limit = int(l)
	}
	switch p := argOr(a, 1).(type) {
	case string:
		if p == "" {
			return nil, fmt.Errorf("the pattern must not be empty")
		}
		return strings.Replace(s, p, rep, limit), nil
	case *regexp.Regexp:
		n := 0
		goRep := regexp.MustCompile(`\$(\d)`).ReplaceAllString(rep, "$${$1}")
		return p.ReplaceAllStringFunc(s, func(m string) string {
			if limit >= 0 && n >= limit {
				return m
			}
			n++
			return p.ReplaceAllString(m, goRep)
		}), nil
	}
	return nil, fmt.Errorf("the pattern must be a string or a regex")
}

func jfMatch(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	re, isRe := argOr(a, 1).(*regexp.Regexp)
	if !isRe {
		return nil, fmt.Errorf("the pattern must be a regex")
	}
	var out jseq
	for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
		groups := []any{}
		for g := 2; g+1 < len(loc); g += 2 {
			if loc[g] >= 0 {
				groups = append(groups, s[loc[g]:loc[g+1]])
			} else {
				groups = append(groups, "")
			}
		}
		out = append(out, map[string]any{"match": s[loc[0]:loc[1]], "index": float64(loc[0]), "groups": groups})
	}
	return out, nil
}

func jfKeys(_ *jeval, a []any) (any, error) {
	seen := map[string]bool{}
	var out jseq
	for _, x := range arrayArg(argOr(a, 0)) {
		if m, ok := x.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
		}
	}
	return out, nil
}

func jfLookup(_ *jeval, a []any) (any, error) {
	k, _, err := strArg(a, 1)
	if err != nil {
		return nil, err
	}
	var out jseq
	for _, x := range arrayArg(argOr(a, 0)) {
		if m, ok := x.(map[string]any); ok {
			if v, ok := m[k]; ok {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func jfMerge(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	out := map[string]any{}
	for _, x := range arrayArg(v) {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the array must contain only objects")
		}
		for k, val := range m {
			out[k] = val
		}
	}
	return out, nil
}

func jfAppend(_ *jeval, a []any) (any, error) {
	x, y := argOr(a, 0), argOr(a, 1)
	if isUndef(x) {
		return y, nil
	}
	if isUndef(y) {
		return x, nil
	}
	out := append(append([]any{}, arrayArg(x)...), arrayArg(y)...)
	return out, nil
}

func jfSort(ev *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	arr := append([]any{}, arrayArg(v)...)
	var sortErr error
	if fn := argOr(a, 1); !isUndef(fn) {
		sort.SliceStable(arr, func(i, j int) bool {
			r, err := ev.apply(fn, []any{arr[j], arr[i]})
			if err != nil {
				sortErr = err
			}
			return jtruthy(collapse(r))
		})
		return arr, sortErr
	}
	sort.SliceStable(arr, func(i, j int) bool {
		fi, ok1 := num(arr[i])
		fj, ok2 := num(arr[j])
		if ok1 && ok2 {
			return fi < fj
		}
		si, ok3 := arr[i].(string)
		sj, ok4 := arr[j].(string)
		if ok3 && ok4 {
			return si < sj
		}
		sortErr = fmt.Errorf("the array must contain only numbers or only strings")
		return false
	})
	return arr, sortErr
}

func jfReverse(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	arr := arrayArg(v)
	out := make([]any, len(arr))
	for i, x := range arr {
		out[len(arr)-1-i] = x
	}
	return out, nil
}

func jfDistinct(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	out := []any{}
next:
	for _, x := range arrayArg(v) {
		for _, y := range out {
			if jsonEqual(toJSONValue(x), toJSONValue(y)) {
				continue next
			}
		}
		out = append(out, x)
	}
	return out, nil
}

func jfShuffle(_ *jeval, a []any) (any, error) {
	arr := append([]any{}, arrayArg(argOr(a, 0))...)
	mrand.Shuffle(len(arr), func(i, j int) { arr[i], arr[j] = arr[j], arr[i] })
	return arr, nil
}

func jfType(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	switch v.(type) {
	case undefinedT:
		return undefined, nil
	case *jfunc:
		return "function", nil
	}
	return typeName(toJSONValue(v)), nil
}

func jfMath(f func(float64) float64) jbuiltin {
	return func(_ *jeval, a []any) (any, error) {
		v := argOr(a, 0)
		if isUndef(v) {
			return undefined, nil
		}
		x, ok := num(v)
		if !ok {
			return nil, fmt.Errorf("the argument must be a number")
		}
		return f(x), nil
	}
}

func jfRound(_ *jeval, a []any) (any, error) {
	v := argOr(a, 0)
	if isUndef(v) {
		return undefined, nil
	}
	x, ok := num(v)
	if !ok {
		return nil, fmt.Errorf("the argument must be a number")
	}
	p := 0.0
	if pv, ok := num(argOr(a, 1)); ok {
		p = pv
	}
	m := math.Pow(10, p)
	return math.RoundToEven(x*m) / m, nil
}

func jfPower(_ *jeval, a []any) (any, error) {
	x, ok1 := num(argOr(a, 0))
	y, ok2 := num(argOr(a, 1))
	if !ok1 || !ok2 {
		return undefined, nil
	}
	return math.Pow(x, y), nil
}

func jfToMillis(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an ISO 8601 timestamp", s)
	}
	return float64(t.UnixMilli()), nil
}

func jfFromMillis(_ *jeval, a []any) (any, error) {
	f, ok := num(argOr(a, 0))
	if !ok {
		return undefined, nil
	}
	return time.UnixMilli(int64(f)).UTC().Format("2006-01-02T15:04:05.000Z"), nil
}

func jfRandom(_ *jeval, a []any) (any, error) {
	if len(a) == 0 {
		return mrand.Float64(), nil
	}
	// Step Functions' $random(seed) is deterministic per seed.
	seed, _ := num(a[0])
	r := mrand.New(mrand.NewPCG(uint64(int64(seed)), 0))
	return r.Float64(), nil
}

func jfPartition(_ *jeval, a []any) (any, error) {
	arr := arrayArg(argOr(a, 0))
	size, ok := num(argOr(a, 1))
	if !ok || size < 1 || size != math.Trunc(size) {
		return nil, fmt.Errorf("the chunk size must be a positive integer")
	}
	out := []any{}
	for i := 0; i < len(arr); i += int(size) {
		out = append(out, append([]any{}, arr[i:min(i+int(size), len(arr))]...))
	}
	return out, nil
}

func jfRange(_ *jeval, a []any) (any, error) {
	lo, ok1 := num(argOr(a, 0))
	hi, ok2 := num(argOr(a, 1))
	step, ok3 := num(argOr(a, 2))
	if !ok1 || !ok2 || !ok3 || step == 0 {
		return nil, fmt.Errorf("start, end and a non-zero step must be numbers")
	}
	var out jseq
	for x := lo; (step > 0 && x <= hi) || (step < 0 && x >= hi); x += step {
		out = append(out, x)
		if len(out) > 1000 {
			return nil, fmt.Errorf("the range has more than 1000 items")
		}
	}
	return out, nil
}

func jfHash(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	alg, _, err := strArg(a, 1)
	if err != nil {
		return nil, err
	}
	var h hash.Hash
	switch alg {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func jfParse(_ *jeval, a []any) (any, error) {
	s, ok, err := strArg(a, 0)
	if err != nil || !ok {
		return undefined, err
	}
	v, derr := decodeJSON([]byte(s))
	if derr != nil {
		return nil, fmt.Errorf("the argument is not valid JSON")
	}
	if isNumber(v) {
		f, _ := toFloat(v)
		return f, nil
	}
	return v, nil
}

func jfB64(encode bool) jbuiltin {
	return func(_ *jeval, a []any) (any, error) {
		s, ok, err := strArg(a, 0)
		if err != nil || !ok {
			return undefined, err
		}
		if encode {
			return base64.StdEncoding.EncodeToString([]byte(s)), nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("the argument is not valid base64")
		}
		return string(b), nil
	}
}

func callArity(fn any) int {
	if f, ok := fn.(*jfunc); ok && f.lambda != nil {
		return len(f.lambda.params)
	}
	return 1
}

func jfMap(ev *jeval, a []any) (any, error) {
	fn := argOr(a, 1)
	n := callArity(fn)
	var out jseq
	arr := arrayArg(argOr(a, 0))
	for i, x := range arr {
		args := []any{x, float64(i), arr}[:max(1, min(n, 3))]
		v, err := ev.apply(fn, args)
		if err != nil {
			return nil, err
		}
		if v = collapse(v); !isUndef(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func jfFilter(ev *jeval, a []any) (any, error) {
	fn := argOr(a, 1)
	n := callArity(fn)
	var out jseq
	arr := arrayArg(argOr(a, 0))
	for i, x := range arr {
		args := []any{x, float64(i), arr}[:max(1, min(n, 3))]
		v, err := ev.apply(fn, args)
		if err != nil {
			return nil, err
		}
		if jtruthy(collapse(v)) {
			out = append(out, x)
		}
	}
	return out, nil
}

func jfReduce(ev *jeval, a []any) (any, error) {
	arr := arrayArg(argOr(a, 0))
	fn := argOr(a, 1)
	acc := argOr(a, 2)
	start := 0
	if isUndef(acc) {
		if len(arr) == 0 {
			return undefined, nil
		}
		acc, start = arr[0], 1
	}
	for i := start; i < len(arr); i++ {
		v, err := ev.apply(fn, []any{acc, arr[i]})
		if err != nil {
			return nil, err
		}
		acc = collapse(v)
	}
	return acc, nil
}

func jfEach(ev *jeval, a []any) (any, error) {
	m, ok := argOr(a, 0).(map[string]any)
	if !ok {
		return undefined, nil
	}
	var out jseq
	for _, k := range sortedKeys(m) {
		v, err := ev.apply(argOr(a, 1), []any{m[k], k})
		if err != nil {
			return nil, err
		}
		if v = collapse(v); !isUndef(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func jfSpread(_ *jeval, a []any) (any, error) {
	var out jseq
	for _, x := range arrayArg(argOr(a, 0)) {
		if m, ok := x.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				out = append(out, map[string]any{k: m[k]})
			}
		} else {
			out = append(out, x)
		}
	}
	return out, nil
}

func jfSingle(ev *jeval, a []any) (any, error) {
	arr := arrayArg(argOr(a, 0))
	if fn := argOr(a, 1); !isUndef(fn) {
		f, err := jfFilter(ev, a)
		if err != nil {
			return nil, err
		}
		arr = arrayArg(f)
	}
	if len(arr) != 1 {
		return nil, fmt.Errorf("expected exactly one matching value, found %d", len(arr))
	}
	return arr[0], nil
}

func jfAssert(_ *jeval, a []any) (any, error) {
	if !jtruthy(argOr(a, 0)) {
		s, _ := argOr(a, 1).(string)
		return nil, fmt.Errorf("assertion failed: %s", s)
	}
	return undefined, nil
}

func jfZip(_ *jeval, a []any) (any, error) {
	if len(a) == 0 {
		return []any{}, nil
	}
	n := math.MaxInt
	arrs := make([][]any, len(a))
	for i, x := range a {
		arrs[i] = arrayArg(x)
		n = min(n, len(arrs[i]))
	}
	out := []any{}
	for i := 0; i < n; i++ {
		row := make([]any, len(arrs))
		for j := range arrs {
			row[j] = arrs[j][i]
		}
		out = append(out, row)
	}
	return out, nil
}

func jfFlatten(_ *jeval, a []any) (any, error) {
	var out []any
	var walk func(v any)
	walk = func(v any) {
		if arr, ok := v.([]any); ok {
			for _, x := range arr {
				walk(x)
			}
			return
		}
		out = append(out, v)
	}
	walk(argOr(a, 0))
	return out, nil
}
