package main

// Progress read from an experiment's output, with no change to most scripts:
//   - the line protocol `PROGRESS 42%` or `PROGRESS 42/100` at the start of a line, optionally
//     followed by a space and any text (stdout or stderr);
//   - tqdm-style bars redrawn with carriage returns: ` 42%|████      | 42/100 [00:10<00:14, 4.1it/s]`.
// The same reading as src/model/progress.ts's type, in the same JSON.

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

type Progress struct {
	// Percent is 0–100.
	Percent float64 `json:"percent"`
	// Done and Total: units done and in all, when the output said so (`42/100`).
	Done  *float64 `json:"done,omitempty"`
	Total *float64 `json:"total,omitempty"`
}

// ProgressMark is a run's first progress report and when it came.
type ProgressMark struct {
	Percent float64 `json:"percent"`
	At      int64   `json:"at"`
	// FrozenMs is the time the run was frozen before the mark: the rate since it counts only time not frozen.
	FrozenMs *int64 `json:"frozenMs,omitempty"`
}

// JavaScript's \s and `.` (which stops at line terminators), so that a line reads as the TypeScript reader read it.
const (
	jsSpace   = `[\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]`
	jsAnyChar = `[^\n\r\x{2028}\x{2029}]`
	number    = `(\d+(?:\.\d+)?)`
)

var (
	protocolPercent  = regexp.MustCompile(`^` + jsSpace + `*PROGRESS(?::|` + jsSpace + `)+` + number + jsSpace + `*%(?:` + jsSpace + jsAnyChar + `*)?$`)
	protocolFraction = regexp.MustCompile(`^` + jsSpace + `*PROGRESS(?::|` + jsSpace + `)+` + number + jsSpace + `*/` + jsSpace + `*` + number + `(?:` + jsSpace + jsAnyChar + `*)?$`)
	tqdmBar          = regexp.MustCompile(`(\d{1,3})%\|[^|]*\|` + jsSpace + `*(\d+(?:\.\d+)?)([kMG]?)/(\d+(?:\.\d+)?)([kMG]?)` + jsSpace + `*\[`)
	tqdmPercentOnly  = regexp.MustCompile(`(\d{1,3})%\|[^|]*\|`)
	lineBreak        = regexp.MustCompile(`\r\n|\n|\r`)
	unitScale        = map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9}
)

// jsRound is JavaScript's Math.round: to the nearest integer, halves toward +∞.
func jsRound(value float64) float64 {
	floor := math.Floor(value)
	if value-floor >= 0.5 {
		return floor + 1
	}
	return floor
}

func clampPercent(value float64) float64 {
	return math.Min(100, math.Max(0, jsRound(value*10)/10))
}

func parseNumber(text string) float64 {
	value, _ := strconv.ParseFloat(text, 64)
	return value
}

func fromFraction(done, total float64) *Progress {
	if !(total > 0) {
		return nil
	}
	return &Progress{Percent: clampPercent(done / total * 100), Done: &done, Total: &total}
}

// ParseProgressLine reads one complete line (or one carriage-return frame) of output; nil when it says nothing
// of progress.
func ParseProgressLine(line string) *Progress {
	if !strings.Contains(line, "PROGRESS") && !strings.Contains(line, "%|") {
		return nil
	}
	if percent := protocolPercent.FindStringSubmatch(line); percent != nil {
		return &Progress{Percent: clampPercent(parseNumber(percent[1]))}
	}
	if fraction := protocolFraction.FindStringSubmatch(line); fraction != nil {
		return fromFraction(parseNumber(fraction[1]), parseNumber(fraction[2]))
	}
	if bar := tqdmBar.FindStringSubmatch(line); bar != nil {
		done := parseNumber(bar[2]) * unitScale[bar[3]]
		total := parseNumber(bar[4]) * unitScale[bar[5]]
		return &Progress{Percent: clampPercent(parseNumber(bar[1])), Done: &done, Total: &total}
	}
	if barPercent := tqdmPercentOnly.FindStringSubmatch(line); barPercent != nil {
		return &Progress{Percent: clampPercent(parseNumber(barPercent[1]))}
	}
	return nil
}

// maxFragment is the longest unterminated line kept (in UTF-16 units, as JavaScript counts); past it the fragment
// is dropped, so a flood costs nothing.
const maxFragment = 4096

// ProgressReader reads progress from a stream of output chunks. Lines end with `\n` or `\r` (tqdm redraws with
// `\r`); an unterminated tqdm frame is read at once, since tqdm leaves its latest frame open.
type ProgressReader struct {
	decoder  utf8Decoder
	fragment string
	latest   *Progress
}

func (reader *ProgressReader) Progress() *Progress { return reader.latest }

// Feed takes in a chunk of output bytes; true when the progress changed.
func (reader *ProgressReader) Feed(chunk []byte) bool {
	return reader.FeedText(reader.decoder.write(chunk))
}

// FeedText takes in decoded text; true when the progress changed.
func (reader *ProgressReader) FeedText(chunk string) bool {
	before := reader.latest
	pieces := lineBreak.Split(reader.fragment+chunk, -1)
	reader.fragment = pieces[len(pieces)-1]
	if utf16Length(reader.fragment) > maxFragment {
		reader.fragment = ""
	}
	for _, line := range pieces[:len(pieces)-1] {
		reader.take(ParseProgressLine(line))
	}
	if tqdmPercentOnly.MatchString(reader.fragment) {
		reader.take(ParseProgressLine(reader.fragment))
	}
	return !sameProgress(before, reader.latest)
}

func (reader *ProgressReader) take(progress *Progress) {
	if progress != nil {
		reader.latest = progress
	}
}

func sameProgress(a, b *Progress) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Percent == b.Percent && sameOptional(a.Done, b.Done) && sameOptional(a.Total, b.Total)
}

func sameOptional(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func utf16Length(text string) int {
	length := 0
	for _, r := range text {
		length++
		if r > 0xFFFF {
			length++
		}
	}
	return length
}

// utf8Decoder turns a stream of bytes into text as Node's StringDecoder does: a character cut between two chunks
// waits for its end; bytes that are no UTF-8 read as U+FFFD.
type utf8Decoder struct {
	pending []byte
}

func (decoder *utf8Decoder) write(chunk []byte) string {
	data := append(decoder.pending, chunk...)
	decoder.pending = nil
	// A character begun in the last three bytes and not yet complete waits for the next chunk.
	for back := 1; back <= 3 && back <= len(data); back++ {
		at := len(data) - back
		if utf8.RuneStart(data[at]) {
			if data[at] >= 0xC0 && !utf8.FullRune(data[at:]) {
				decoder.pending = append([]byte(nil), data[at:]...)
				data = data[:at]
			}
			break
		}
	}
	return decodeUTF8(data)
}

// decodeUTF8 is Buffer.toString('utf8'): each byte of an invalid sequence reads as U+FFFD.
func decodeUTF8(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	var text strings.Builder
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		text.WriteRune(r)
		data = data[size:]
	}
	return text.String()
}
