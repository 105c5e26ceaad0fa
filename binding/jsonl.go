package binding

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Errors of Import.
var (
	// ErrImport: the file had bad lines and SkipBad was off; nothing was
	// stored.
	ErrImport = errors.New("import refused")
	// ErrImportLine: a line is not a JSON object with the binding members.
	// Lines that parse but hold bad values wrap ErrInvalid instead.
	ErrImportLine = errors.New("bad import line")
)

// MaxImportLineLen bounds one JSON line; a longer line is reported bad
// without being held in memory.
const MaxImportLineLen = 64 << 10

// Export writes every binding as one JSON object per line (JSON Lines), in
// key order, and returns how many it wrote. Import reads the same format.
func Export(ctx context.Context, s Store, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	n := 0
	err := s.List(ctx, Key{}, func(b Binding) error {
		line, err := json.Marshal(b)
		if err != nil {
			return err
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// ImportOptions control Import.
type ImportOptions struct {
	// XAccountType is used for lines without xaccount_type (create-customer
	// results carry only domain_id/domain_name plus the request's
	// xaccount_id).
	XAccountType string
	// Source recorded on stored bindings (SourceImport when empty). The
	// source, created_at and updated_at of export lines are not imported:
	// the store sets its own.
	Source Source
	// Actor recorded in history.
	Actor string
	// SkipBad stores the good lines and reports the bad ones; without it a
	// single bad line refuses the whole file.
	SkipBad bool
	// Progress, when set, is called with the number of records stored or
	// found unchanged so far, every ProgressEvery records and once at the
	// end. It runs on the goroutine that called Import.
	Progress func(done int)
	// ProgressEvery defaults to 1000.
	ProgressEvery int
	// Workers is how many Puts run at once (default 32). Concurrent Puts
	// let the bbolt store group them into one commit (one fsync).
	Workers int
}

// ImportReport says what Import did. Read counts non-blank lines; Read =
// Stored + Unchanged + Skipped when Import finishes. A line repeating an
// earlier one counts as Unchanged.
type ImportReport struct {
	Read, Stored, Unchanged, Skipped int
	Bad                              []LineError
}

// LineError is a bad line of an import file (1-based, blank lines counted).
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e LineError) Unwrap() error { return e.Err }

// Import reads JSON Lines of bindings (Export's output, or create-customer
// results: objects with xaccount_id, optional xaccount_type, domain_id and
// domain_name) and stores them. Every line is parsed and validated before
// anything is stored: with a bad line and !SkipBad it returns an error
// wrapping ErrImport, listing the line numbers, and stores nothing. Lines are
// streamed; only the parsed records are held. Importing the same file again
// stores nothing.
func Import(ctx context.Context, s Store, r io.Reader, opts ImportOptions) (ImportReport, error) {
	if opts.Source == "" {
		opts.Source = SourceImport
	}
	if err := opts.Source.Validate(); err != nil {
		return ImportReport{}, err
	}
	if opts.XAccountType != "" {
		if err := checkText("default xaccount_type", opts.XAccountType, MaxXAccountTypeLen, true); err != nil {
			return ImportReport{}, err
		}
	}
	if err := ValidateChangeInfo(opts.Actor, nil); err != nil {
		return ImportReport{}, err
	}

	var rep ImportReport
	records, err := readImport(ctx, r, opts, &rep)
	if err != nil {
		return rep, err
	}
	if len(rep.Bad) > 0 {
		if !opts.SkipBad {
			return rep, fmt.Errorf("%w: %d bad line(s) (%s); nothing was stored; fix them or skip them (--skip-bad)",
				ErrImport, len(rep.Bad), lineList(rep.Bad))
		}
		rep.Skipped = len(rep.Bad)
	}
	err = storeImport(ctx, s, records, opts, &rep)
	return rep, err
}

func lineList(bad []LineError) string {
	var b strings.Builder
	for i, e := range bad {
		if i == 20 {
			fmt.Fprintf(&b, ", …")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	first := bad[0]
	return fmt.Sprintf("lines %s; first: %v", b.String(), first)
}

// readImport parses and validates every line. Lines repeating an earlier
// key with the same domain are counted unchanged; with another domain they
// are bad.
func readImport(ctx context.Context, r io.Reader, opts ImportOptions, rep *ImportReport) ([]Binding, error) {
	br := bufio.NewReaderSize(r, MaxImportLineLen+1)
	var records []Binding
	seen := map[Key]int{} // key → line number of its record
	lineNo := 0
	for {
		if lineNo%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line, tooLong, err := readLine(br)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read import: %w", err)
		}
		if line == nil && !tooLong && err == io.EOF {
			return records, nil
		}
		lineNo++
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimSpace(line)
		switch {
		case tooLong:
			rep.Read++
			rep.Bad = append(rep.Bad, LineError{lineNo, fmt.Errorf("%w: longer than %d bytes", ErrImportLine, MaxImportLineLen)})
		case len(line) == 0:
		default:
			rep.Read++
			b, perr := parseImportLine(line, opts.XAccountType)
			if perr == nil {
				b.Source = opts.Source
				perr = b.Validate()
			}
			if perr != nil {
				rep.Bad = append(rep.Bad, LineError{lineNo, perr})
				break
			}
			if first, dup := seen[b.Key]; dup {
				prev := records[first]
				if prev.DomainID != b.DomainID || prev.DomainName != b.DomainName {
					rep.Bad = append(rep.Bad, LineError{lineNo, fmt.Errorf("%w: account %s/%s was already given another domain", ErrImportLine, b.XAccountType, b.XAccountID)})
				} else {
					rep.Unchanged++
				}
				break
			}
			seen[b.Key] = len(records)
			records = append(records, b)
		}
		if err == io.EOF {
			return records, nil
		}
	}
}

// readLine returns the next line without its newline. A line longer than
// the reader's buffer is consumed and reported tooLong, never held.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			tooLong = true
			continue
		case tooLong:
			return nil, true, err
		case err == io.EOF && len(chunk) == 0:
			return nil, false, io.EOF
		}
		return bytes.Clone(chunk), false, err
	}
}

// parseImportLine reads one line's object. Members other than the four
// binding members are ignored (export lines carry source and times,
// create-customer results may carry more); null counts as absent.
func parseImportLine(line []byte, defaultType string) (Binding, error) {
	fields, err := readObject(line)
	if err != nil {
		return Binding{}, fmt.Errorf("%w: %v", ErrImportLine, err)
	}
	var b Binding
	for _, f := range fields {
		var dst *string
		switch f.Name {
		case "xaccount_id":
			dst = &b.XAccountID
		case "xaccount_type":
			dst = &b.XAccountType
		case "domain_id":
			dst = &b.DomainID
		case "domain_name":
			dst = &b.DomainName
		default:
			continue
		}
		if string(f.Value) == "null" {
			continue
		}
		s, ok := jsonString(f.Value)
		if !ok {
			return Binding{}, fmt.Errorf("%w: %s must be a JSON string", ErrImportLine, f.Name)
		}
		*dst = s
	}
	if b.XAccountType == "" {
		b.XAccountType = defaultType
	}
	switch {
	case b.XAccountID == "":
		return Binding{}, fmt.Errorf("%w: xaccount_id is missing", ErrImportLine)
	case b.XAccountType == "":
		return Binding{}, fmt.Errorf("%w: xaccount_type is missing and no default xAccountType was given", ErrImportLine)
	case b.DomainID == "":
		return Binding{}, fmt.Errorf("%w: domain_id is missing", ErrImportLine)
	}
	// The one account-ID alphabet of tokens and notifications, so that an
	// imported binding is one a login can reach.
	if err := ValidXAccountID(b.XAccountID); err != nil {
		return Binding{}, fmt.Errorf("%w: %w: %v", ErrImportLine, ErrInvalid, err)
	}
	return b, nil
}

// importBatch is how many records a BatchUpdater store writes per
// transaction: large enough that a million records are a few hundred
// commits, small enough that one commit stays within tens of MiB.
const importBatch = 65536

// storeImport puts the validated records: in key order and in large
// batches on a store that takes them (one commit per batch), otherwise
// with a few concurrent workers. Progress and the counts are handled on
// the calling goroutine.
func storeImport(ctx context.Context, s Store, records []Binding, opts ImportOptions, rep *ImportReport) error {
	if bu, ok := s.(BatchUpdater); ok {
		return storeImportBatches(ctx, bu, records, opts, rep)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 32
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 1000
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		changed bool
		err     error
	}
	jobs := make(chan Binding)
	results := make(chan result)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				changed, err := Put(ctx, s, b, opts.Actor, nil)
				results <- result{changed, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, b := range records {
			select {
			case jobs <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	var firstErr error
	done := 0
	for res := range results {
		switch {
		case res.err != nil:
			if firstErr == nil {
				firstErr = res.err
				cancel()
			}
			continue
		case res.changed:
			rep.Stored++
		default:
			rep.Unchanged++
		}
		done++
		if opts.Progress != nil && done%every == 0 {
			opts.Progress(done)
		}
	}
	if opts.Progress != nil && done%every != 0 {
		opts.Progress(done)
	}
	if firstErr != nil {
		return fmt.Errorf("import stopped after %d of %d records (those are stored): %w", done, len(records), firstErr)
	}
	return nil
}

// storeImportBatches writes the records sorted by key (neighbours share the
// store's pages), importBatch per step. A failed step stores none of its
// records; the ones before it stay stored.
func storeImportBatches(ctx context.Context, bu BatchUpdater, records []Binding, opts ImportOptions, rep *ImportReport) error {
	sorted := slices.Clone(records)
	slices.SortStableFunc(sorted, func(a, b Binding) int {
		return cmp.Or(cmp.Compare(a.XAccountType, b.XAccountType), cmp.Compare(a.XAccountID, b.XAccountID))
	})
	every := opts.ProgressEvery
	if every <= 0 {
		every = 1000
	}
	done, reported := 0, 0
	for start := 0; start < len(sorted); start += importBatch {
		chunk := sorted[start:min(start+importBatch, len(sorted))]
		items := make([]BatchItem, len(chunk))
		for i, b := range chunk {
			items[i] = BatchItem{Key: b.Key, Decide: bindTo(b, opts.Actor, nil)}
		}
		results, err := bu.UpdateBatch(ctx, items)
		if err != nil {
			return fmt.Errorf("import stopped after %d of %d records (those are stored): %w", done, len(records), err)
		}
		for _, r := range results {
			if r.Changed {
				rep.Stored++
			} else {
				rep.Unchanged++
			}
		}
		done += len(chunk)
		if opts.Progress != nil && done/every > reported/every {
			opts.Progress(done)
			reported = done
		}
	}
	if opts.Progress != nil && reported != done {
		opts.Progress(done)
	}
	return nil
}
