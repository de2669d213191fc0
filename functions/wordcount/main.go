// Command wordcount is a baton function counting the words, lines and
// bytes of a text body, with its ten most frequent words:
//
//	{"words":9,"lines":2,"bytes":44,"top":[{"word":"the","count":3},…]}
//
// A word is a run of letters and digits, apostrophes inside it included
// ("don't"); words are compared lower-cased. Lines are counted as an
// editor shows them: a last line without a final newline still counts.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/baton-run/baton/functions/sdk"
)

func init() { sdk.Handle(wordcount) }

// main is not run in the reactor build; see the sdk package.
func main() {}

// topN is how many words the result lists.
const topN = 10

// Result is the function's JSON output.
type Result struct {
	Words int         `json:"words"`
	Lines int         `json:"lines"`
	Bytes int         `json:"bytes"`
	Top   []WordCount `json:"top"`
}

// WordCount is one entry of Result.Top.
type WordCount struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

func wordcount(w sdk.ResponseWriter, e *sdk.Event) error {
	body, err := json.Marshal(count(e.Data))
	if err != nil {
		return err
	}
	w.Header().Set("content-type", "application/json")
	_, err = w.Write(body)
	return err
}

// count computes the Result of text.
func count(text []byte) Result {
	r := Result{Bytes: len(text), Top: []WordCount{}}
	for _, c := range text {
		if c == '\n' {
			r.Lines++
		}
	}
	if len(text) > 0 && text[len(text)-1] != '\n' {
		r.Lines++
	}

	// freq counts each lower-cased word; a pointer, so that counting a
	// word seen before looks it up without allocating its key.
	freq := make(map[string]*int)
	var lower []byte
	start := -1 // start of the current word, or -1
	for i := 0; i <= len(text); {
		ru, size := utf8.RuneError, 1
		if i < len(text) {
			ru, size = utf8.DecodeRune(text[i:])
		}
		if unicode.IsLetter(ru) || unicode.IsDigit(ru) || isApostrophe(ru) && start >= 0 {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			lower = appendLower(lower[:0], trimApostrophes(text[start:i]))
			if len(lower) > 0 {
				if n := freq[string(lower)]; n != nil {
					*n++
				} else {
					freq[string(lower)] = new(1)
				}
				r.Words++
			}
			start = -1
		}
		i += size
	}

	for word, n := range freq {
		r.Top = append(r.Top, WordCount{word, *n})
	}
	slices.SortFunc(r.Top, func(a, b WordCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Word, b.Word)
	})
	if len(r.Top) > topN {
		r.Top = r.Top[:topN]
	}
	return r
}

func isApostrophe(r rune) bool { return r == '\'' || r == '’' }

func trimApostrophes(w []byte) []byte { return bytes.TrimRight(w, "'’") }

// appendLower appends w lower-cased to dst.
func appendLower(dst, w []byte) []byte {
	for len(w) > 0 {
		if c := w[0]; c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			w = w[1:]
			continue
		}
		ru, size := utf8.DecodeRune(w)
		dst = utf8.AppendRune(dst, unicode.ToLower(ru))
		w = w[size:]
	}
	return dst
}
