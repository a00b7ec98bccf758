package main

// Progress read from experiment output: the same cases as the TypeScript reader had.

import (
	"encoding/json"
	"strings"
	"testing"
)

func progressJSON(progress *Progress) string {
	if progress == nil {
		return "undefined"
	}
	text, _ := json.Marshal(progress)
	return string(text)
}

func TestTheProgressLineProtocol(t *testing.T) {
	for line, want := range map[string]string{
		"PROGRESS 42%":                       `{"percent":42}`,
		"PROGRESS 42.5 %":                    `{"percent":42.5}`,
		"PROGRESS: 7%":                       `{"percent":7}`,
		"  PROGRESS 42/100":                  `{"percent":42,"done":42,"total":100}`,
		"PROGRESS 3/8":                       `{"percent":37.5,"done":3,"total":8}`,
		"PROGRESS 150%":                      `{"percent":100}`,
		"PROGRESS 42% done, more text":       `{"percent":42}`,
		"PROGRESS 3/10  simulated P&L +1.04": `{"percent":30,"done":3,"total":10}`,
		"PROGRESS 2/3":                       `{"percent":66.7,"done":2,"total":3}`,
		"PROGRESS 0.05%":                     `{"percent":0.1}`,
		"\u00a0PROGRESS\u00a042%":            `{"percent":42}`,
		"progress 42%":                       "undefined",
		"PROGRESS":                           "undefined",
		"PROGRESS 3/0":                       "undefined",
		"loaded 42% of the data":             "undefined",
		"PROGRESS 42%done":                   "undefined",
		"PROGRESS 3/10x":                     "undefined",
		"NO PROGRESS 42%":                    "undefined",
		// JavaScript's `.` stops at U+2028, a line terminator to it: so does the keeper's reading.
		"PROGRESS 42% then\u2028another line": "undefined",
	} {
		if got := progressJSON(ParseProgressLine(line)); got != want {
			t.Errorf("%q: got %s, want %s", line, got, want)
		}
	}
}

func TestTqdmBars(t *testing.T) {
	for line, want := range map[string]string{
		" 42%|████▏     | 42/100 [00:10<00:14,  4.12it/s]":                `{"percent":42,"done":42,"total":100}`,
		"train:  7%|7         | 7/100 [00:01<00:13, 6.93it/s, loss=0.31]": `{"percent":7,"done":7,"total":100}`,
		"100%|##########| 1.5k/1.5k [00:03<00:00, 500.00it/s]":            `{"percent":100,"done":1500,"total":1500}`,
		" 55%|█████▌    |":                                                `{"percent":55}`,
		// A bar without a total (`42it [00:10]`) is not progress.
		"42it [00:10, 4.12it/s]": "undefined",
	} {
		if got := progressJSON(ParseProgressLine(line)); got != want {
			t.Errorf("%q: got %s, want %s", line, got, want)
		}
	}
}

func TestCarriageReturnFramesSplitAnywhereEndAtTheLatestFrame(t *testing.T) {
	var reader ProgressReader
	output := []byte("\r  0%|          | 0/50 [00:00<?, ?it/s]" + "\r 10%|█         | 5/50 [00:01<00:09]" +
		"\r 20%|██        | 10/50 [00:02<00:08]")
	var changes []float64
	// Seven bytes at a time: the bars' characters are cut between chunks too.
	for at := 0; at < len(output); at += 7 {
		if reader.Feed(output[at:min(len(output), at+7)]) {
			changes = append(changes, reader.Progress().Percent)
		}
	}
	expectEqual(t, progressJSON(reader.Progress()), `{"percent":20,"done":10,"total":50}`)
	expectEqual(t, changes[len(changes)-1], 20)
	for _, percent := range changes {
		if percent == 100 {
			t.Fatalf("a half-read frame was read as 100%%: %v", changes)
		}
	}
}

func TestAProtocolLineCountsOnlyOnceItsLineEnds(t *testing.T) {
	var reader ProgressReader
	expectEqual(t, reader.Feed([]byte("log line\nPROGRESS 42/1")), false)
	expectEqual(t, progressJSON(reader.Progress()), "undefined")
	expectEqual(t, reader.Feed([]byte("00\n")), true)
	expectEqual(t, progressJSON(reader.Progress()), `{"percent":42,"done":42,"total":100}`)
}

func TestReportsAChangeOnlyWhenTheProgressChanged(t *testing.T) {
	var reader ProgressReader
	expectEqual(t, reader.Feed([]byte("PROGRESS 5%\n")), true)
	expectEqual(t, reader.Feed([]byte("PROGRESS 5%\nother output\n")), false)
	expectEqual(t, reader.Feed([]byte("PROGRESS 6%\n")), true)
	expectEqual(t, reader.Feed([]byte("PROGRESS 3/6\n")), true)
	expectEqual(t, reader.Feed([]byte("PROGRESS 50%\n")), true) // the same percent without its units
}

func TestAFloodWithoutLineEndsIsDroppedRatherThanKept(t *testing.T) {
	var reader ProgressReader
	for i := 0; i < 100; i++ {
		reader.Feed([]byte(strings.Repeat("x", 10_000)))
	}
	reader.Feed([]byte("\nPROGRESS 9%\n"))
	expectEqual(t, progressJSON(reader.Progress()), `{"percent":9}`)
	if len(reader.fragment) >= 10_000 {
		t.Fatalf("a fragment of %d characters kept", len(reader.fragment))
	}
}

func TestACharacterCutBetweenChunksIsDecodedWhole(t *testing.T) {
	var decoder utf8Decoder
	bar := []byte("█▌")
	expectEqual(t, decoder.write(bar[:1])+decoder.write(bar[1:4])+decoder.write(bar[4:]), "█▌")
	expectEqual(t, decoder.write([]byte{0xff, 'a'}), "\ufffda")
}

func TestRoundsAsJavaScriptDoes(t *testing.T) {
	expectEqual(t, clampPercent(42.25), 42.3)
	expectEqual(t, clampPercent(-3), 0)
	expectEqual(t, jsRound(0.49999999999999994), 0)
	expectEqual(t, jsRound(-2.5), -2)
}

func TestTheFirstMarkKeepsTheFrozenTimeOfItsFirstRecord(t *testing.T) {
	var output runOutput
	if output.record(1_000, 0) != nil {
		t.Fatal("a record before any progress")
	}
	output.reader.FeedText("PROGRESS 10/100\n")
	output.firstProgress = &ProgressMark{Percent: 10, At: 1_000}
	first := output.record(1_200, 300)
	later := output.record(60_000, 45_300) // frozen 45 s in between: the mark keeps 300
	if *first.FirstProgress.FrozenMs != 300 || *later.FirstProgress.FrozenMs != 300 || later.FrozenMs != 45_300 {
		t.Fatalf("mark frozen %d then %d, record frozen %d", *first.FirstProgress.FrozenMs,
			*later.FirstProgress.FrozenMs, later.FrozenMs)
	}
}
