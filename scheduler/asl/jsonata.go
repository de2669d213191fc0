package asl

import "fmt"

type jexpr struct{ src string }

func parseJSONata(src string) (*jexpr, error) { return &jexpr{src: src}, nil }

func evalJSONata(e *jexpr, env *pathEnv) (any, bool, error) {
	return nil, false, fmt.Errorf("JSONata not implemented")
}
