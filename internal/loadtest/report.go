//go:build linux

package loadtest

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"
)

// Report is what a run found; the JSON names are the machine interface.
type Report struct {
	Mode         string  `json:"mode"` // fresh-session | reuse-session
	Concurrency  int     `json:"concurrency"`
	Cores        int     `json:"cores"`
	WarmupS      float64 `json:"warmup_seconds"`
	DurationS    float64 `json:"duration_seconds"` // measured, shorter when interrupted
	Interrupted  bool    `json:"interrupted"`
	ServerBinary string  `json:"server_binary"`

	Ceiling CeilingReport `json:"ceiling"`

	Flows            int64             `json:"flows_completed"`
	FlowsPerSecond   float64           `json:"flows_per_second"`
	PercentOfCeiling float64           `json:"percent_of_ceiling"`
	LatencyMS        LatencyReport     `json:"latency_ms"`
	Errors           int64             `json:"errors"`
	WarmupErrors     int64             `json:"warmup_errors"`
	ErrorsByReason   map[string]int64  `json:"errors_by_reason"`
	ErrorSamples     map[string]string `json:"error_samples,omitempty"`

	Store         string       `json:"store"`
	Instances     int          `json:"instances"`
	Server        ServerReport `json:"server"` // all instances together
	Etcd          *EtcdReport  `json:"etcd,omitempty"`
	LoadGenCPUMS  float64      `json:"load_generator_cpu_ms_per_flow"`
	LoadGenCores  float64      `json:"load_generator_cpu_cores"`
	OtherCPUCores float64      `json:"other_processes_cpu_cores"` // the rest of the machine during the window

	Timeline []TimelineSlice `json:"timeline"`
	Targets  []TargetVerdict `json:"targets"`
	Pass     bool            `json:"pass"`
	Notes    []string        `json:"notes,omitempty"`
}

type CeilingReport struct {
	Samples int `json:"samples"`
	// CPUMSPerResponse is the mean of the timing before the load and the
	// one after it: a shared machine's speed drifts, and the two bracket
	// the window.
	CPUMSPerResponse   float64 `json:"cpu_ms_per_response"`
	BeforeCPUMS        float64 `json:"cpu_ms_per_response_before"`
	AfterCPUMS         float64 `json:"cpu_ms_per_response_after,omitempty"`
	WallMSPerResponse  float64 `json:"wall_ms_per_response"`
	ResponsesPerSecond float64 `json:"responses_per_second"`
	Counts             string  `json:"counts"`
}

type LatencyReport struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type ServerReport struct {
	PID        int     `json:"pid"`  // the first instance
	PIDs       []int   `json:"pids"` // every instance; the figures are their sums
	URL        string  `json:"url"`
	CPUMSFlow  float64 `json:"cpu_ms_per_flow"`
	CPUCores   float64 `json:"cpu_cores"` // average use during the window
	ImpliedFPS float64 `json:"implied_flows_per_second"`
	// ImpliedPct is ImpliedFPS as a share of the ceiling: what the server
	// would reach with the cores to itself.
	ImpliedPct  float64 `json:"implied_percent_of_ceiling"`
	RSSStartMiB float64 `json:"rss_start_mib"`
	RSSEndMiB   float64 `json:"rss_end_mib"`
	RSSPeakMiB  float64 `json:"rss_peak_mib"` // VmHWM: the whole life of the process
	RSSGrowth   float64 `json:"rss_growth_percent"`
	// The resident set's parts: anonymous (heap, stacks) and file-backed
	// (mostly the store's memory map).
	AnonStartMiB float64 `json:"rss_anon_start_mib"`
	AnonEndMiB   float64 `json:"rss_anon_end_mib"`
	FileStartMiB float64 `json:"rss_file_start_mib"`
	FileEndMiB   float64 `json:"rss_file_end_mib"`
	AnonGrowth   float64 `json:"rss_anon_growth_percent"`
	AnonFlat     bool    `json:"rss_anon_flat"`
	FileGrowth   float64 `json:"rss_file_growth_percent"`
	// ReplayWindowS is how long after the load starts the store stops
	// growing (spent marks expire, their slot ends, the sweeper runs).
	ReplayWindowS float64 `json:"replay_window_seconds"`
	MemoryFlat    bool    `json:"memory_flat"`
	ExitCode      int     `json:"exit_code"`
	StopMS        float64 `json:"stop_ms"`
	Log           string  `json:"log,omitempty"` // kept only with --data-dir
}

// EtcdReport is the etcd server's share of the window (--etcd-pid).
type EtcdReport struct {
	PID         int     `json:"pid"`
	CPUMSFlow   float64 `json:"cpu_ms_per_flow"`
	CPUCores    float64 `json:"cpu_cores"`
	RSSStartMiB float64 `json:"rss_start_mib"`
	RSSEndMiB   float64 `json:"rss_end_mib"`
}

type TimelineSlice struct {
	FromS          float64 `json:"from_seconds"`
	ToS            float64 `json:"to_seconds"`
	FlowsPerSecond float64 `json:"flows_per_second"`
	P95MS          float64 `json:"p95_ms"`
	Errors         int64   `json:"errors"`
	RSSMiB         float64 `json:"rss_mib"`
	AnonMiB        float64 `json:"rss_anon_mib"`
	FileMiB        float64 `json:"rss_file_mib"`
	// ServerCPUMSFlow is the server's CPU time per flow completed between
	// the slice's first and last samples (0 when they are too few).
	ServerCPUMSFlow float64 `json:"server_cpu_ms_per_flow"`
}

type TargetVerdict struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarizeFlows fills throughput, latency and errors from the records.
// A flow counts in the window when it ended inside it; errors also count
// after it (in-flight flows finishing), and warm-up errors separately.
func summarizeFlows(rep *Report, records []flowRecord, from, to time.Duration) {
	rep.ErrorsByReason = map[string]int64{}
	rep.ErrorSamples = map[string]string{}
	var lat []time.Duration
	for _, rec := range records {
		if rec.Err != nil {
			if rec.End < from {
				rep.WarmupErrors++
			} else {
				rep.Errors++
			}
			rep.ErrorsByReason[rec.Err.Reason]++
			if _, ok := rep.ErrorSamples[rec.Err.Reason]; !ok {
				rep.ErrorSamples[rec.Err.Reason] = rec.Err.Detail
			}
			continue
		}
		if rec.End >= from && rec.End < to {
			lat = append(lat, rec.Latency)
		}
	}
	rep.Flows = int64(len(lat))
	if to > from {
		rep.FlowsPerSecond = float64(rep.Flows) / (to - from).Seconds()
	}
	rep.LatencyMS = latencies(lat)
}

// latencies are the percentiles of d (nearest rank), in milliseconds.
func latencies(d []time.Duration) LatencyReport {
	if len(d) == 0 {
		return LatencyReport{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return LatencyReport{
		P50: ms(percentile(s, 50)), P95: ms(percentile(s, 95)), P99: ms(percentile(s, 99)),
		Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s))),
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func samplesBetween(s []procSample, from, to time.Duration) []procSample {
	var out []procSample
	for _, v := range s {
		if v.At >= from && v.At <= to {
			out = append(out, v)
		}
	}
	return out
}

// Parts of a procSample that flatness is judged on.
func rssOf(s procSample) int64 { return s.RSSKiB }

func anonOf(s procSample) int64 { return s.AnonKiB }

func fileOf(s procSample) int64 { return s.FileKiB }

// memoryGrowth compares the mean of part over the last third of the window
// with the middle third (the first third still holds warm-up growth):
// growth in percent, flat when below the target. Fewer than 3 samples
// cannot tell growth and count as flat with 0 %.
func memoryGrowth(s []procSample, part func(procSample) int64) (growthPct float64, flat bool) {
	if len(s) < 3 {
		return 0, true
	}
	third := len(s) / 3
	middle, last := meanOf(s[third:2*third], part), meanOf(s[len(s)-third:], part)
	if middle <= 0 {
		return 0, false
	}
	growth := (last - middle) / middle
	return 100 * growth, growth < loadTargetRSSGrowth
}

// meanOf is the mean of part over s, in KiB.
func meanOf(s []procSample, part func(procSample) int64) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(part(v))
	}
	return sum / float64(len(s))
}

// timeline cuts the window into n slices: throughput, p95 and RSS of each.
func timeline(records []flowRecord, samples []procSample, from, to time.Duration, n int) []TimelineSlice {
	if to <= from {
		return nil
	}
	n = max(1, min(n, int((to-from)/time.Second)))
	width := (to - from) / time.Duration(n)
	out := make([]TimelineSlice, n)
	lat := make([][]time.Duration, n)
	for i := range out {
		out[i].FromS = (time.Duration(i) * width).Seconds()
		out[i].ToS = (time.Duration(i+1) * width).Seconds()
	}
	slot := func(at time.Duration) int {
		if at < from || at >= to {
			return -1
		}
		return min(int((at-from)/width), n-1)
	}
	for _, rec := range records {
		i := slot(rec.End)
		switch {
		case i < 0:
		case rec.Err != nil:
			out[i].Errors++
		default:
			lat[i] = append(lat[i], rec.Latency)
		}
	}
	// Each slice's samples, led by the last one before it: CPU time is a
	// difference, so a slice with one sample of its own still has two. A
	// slice without a sample of its own (slices narrower than the sampling
	// interval) reads the memory of the one before.
	rss := make([][]procSample, n)
	for i := range rss {
		start := from + time.Duration(i)*width
		for j := len(samples) - 1; j >= 0; j-- {
			if samples[j].At < start {
				rss[i] = append(rss[i], samples[j])
				break
			}
		}
	}
	for _, s := range samples {
		if i := slot(s.At); i >= 0 {
			rss[i] = append(rss[i], s)
		}
	}
	for i := range out {
		out[i].ServerCPUMSFlow = cpuPerFlow(records, rss[i])
		if len(rss[i]) > 1 {
			rss[i] = rss[i][1:] // memory: the slice's own samples
		}
		out[i].FlowsPerSecond = float64(len(lat[i])) / width.Seconds()
		out[i].P95MS = latencies(lat[i]).P95
		out[i].RSSMiB = meanOf(rss[i], rssOf) / 1024
		out[i].AnonMiB = meanOf(rss[i], anonOf) / 1024
		out[i].FileMiB = meanOf(rss[i], fileOf) / 1024
	}
	return out
}

// cpuPerFlow is the server's CPU time between the first and last of
// samples, per flow completed in between; 0 when it cannot be told.
func cpuPerFlow(records []flowRecord, samples []procSample) float64 {
	if len(samples) < 2 {
		return 0
	}
	first, last := samples[0], samples[len(samples)-1]
	if first.CPUTicks < 0 || last.CPUTicks < first.CPUTicks || last.At <= first.At {
		return 0
	}
	flows := 0
	for _, rec := range records {
		if rec.Err == nil && rec.End >= first.At && rec.End < last.At {
			flows++
		}
	}
	if flows == 0 {
		return 0
	}
	cpu := time.Duration(last.CPUTicks-first.CPUTicks) * time.Second / clockTicksPerSecond
	return ms(cpu) / float64(flows)
}

// finishReport adds what follows from the ceiling and sets the verdicts.
func (r *loadRun) finishReport(rep *Report) {
	c := rep.Ceiling.ResponsesPerSecond
	if c > 0 {
		rep.PercentOfCeiling = 100 * rep.FlowsPerSecond / c
	}
	if rep.Server.CPUMSFlow > 0 {
		rep.Server.ImpliedFPS = float64(rep.Cores) * 1000 / rep.Server.CPUMSFlow
		if c > 0 {
			rep.Server.ImpliedPct = 100 * rep.Server.ImpliedFPS / c
		}
	}
	rep.Targets = []TargetVerdict{
		{Name: fmt.Sprintf("completed flows/s >= %.0f %% of the SSO-core ceiling", 100*loadTargetCeilingShare),
			Measured: fmt.Sprintf("%.1f %%", rep.PercentOfCeiling), Pass: rep.PercentOfCeiling >= 100*loadTargetCeilingShare},
		{Name: fmt.Sprintf("server side: cores / server CPU per flow >= %.0f %% of the ceiling", 100*loadTargetCeilingShare),
			Measured: fmt.Sprintf("%.1f %%", rep.Server.ImpliedPct), Pass: rep.Server.ImpliedPct >= 100*loadTargetCeilingShare},
		{Name: "zero errors", Measured: strconv.FormatInt(rep.Errors+rep.WarmupErrors, 10), Pass: rep.Errors+rep.WarmupErrors == 0 && rep.Flows > 0},
		{Name: fmt.Sprintf("flat memory (RSS last third vs middle third < %.0f %%)", 100*loadTargetRSSGrowth),
			Measured: fmt.Sprintf("%+.1f %%", rep.Server.RSSGrowth), Pass: rep.Server.MemoryFlat},
	}
	rep.Pass = !rep.Interrupted
	for _, t := range rep.Targets {
		rep.Pass = rep.Pass && t.Pass
	}
	if !rep.Targets[0].Pass && rep.Flows > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the completed rate is bound by the load generator, which shares the %d cores: it used %.2f cores (%.2f ms per flow: the mock signing each AuthnRequest, checking each Response, and the browsers), the server %.2f; the ceiling counts neither the load generator nor the server's work beyond the SSO core",
			rep.Cores, rep.LoadGenCores, rep.LoadGenCPUMS, rep.Server.CPUCores))
	}
	if sv := rep.Server; !sv.MemoryFlat && sv.AnonFlat {
		note := fmt.Sprintf("the growth is file-backed (%+.1f %%; anonymous memory %+.1f %%): the store's memory map, which grows while it fills with replay records; the store stops growing %.0f s after the load starts, when the first spent marks expire and are swept", sv.FileGrowth, sv.AnonGrowth, sv.ReplayWindowS)
		if rep.WarmupS < sv.ReplayWindowS {
			note += fmt.Sprintf(", longer than the %.0f s warm-up: measure at steady state with --warmup %.0fs or more", rep.WarmupS, sv.ReplayWindowS)
		}
		rep.Notes = append(rep.Notes, note)
	}
}

// WriteText prints the report as tables.
func (rep *Report) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pf := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	mode := "fresh cookie jar and handoff per flow"
	if rep.Mode == "reuse-session" {
		mode = "one bridge session per worker (flows start at the login link)"
	}
	pf("partneridp loadtest: %.0f s measured after %.0f s warm-up, %d workers, %s, %d cores", rep.DurationS, rep.WarmupS, rep.Concurrency, mode, rep.Cores)
	if rep.Interrupted {
		pf("INTERRUPTED: the figures cover the part that ran")
	}
	pf("")
	pf("SSO-core ceiling (in-process, before and after the load)")
	pf("  CPU per response\t%.3f ms\t(%d responses each time: %.3f before, %.3f after; wall %.3f ms each)", rep.Ceiling.CPUMSPerResponse, rep.Ceiling.Samples, rep.Ceiling.BeforeCPUMS, rep.Ceiling.AfterCPUMS, rep.Ceiling.WallMSPerResponse)
	pf("  ceiling\t%.1f responses/s\t(%d cores ÷ CPU per response)", rep.Ceiling.ResponsesPerSecond, rep.Cores)
	pf("  counts\t%s", rep.Ceiling.Counts)
	pf("")
	pf("flows (handoff -> login link -> signed AuthnRequest -> signed Response -> strict check at the mock ACS)")
	pf("  completed\t%d", rep.Flows)
	pf("  throughput\t%.1f flows/s\t= %.1f %% of the ceiling", rep.FlowsPerSecond, rep.PercentOfCeiling)
	pf("  latency p50/p95/p99/max\t%.1f / %.1f / %.1f / %.1f ms\t(mean %.1f ms)", rep.LatencyMS.P50, rep.LatencyMS.P95, rep.LatencyMS.P99, rep.LatencyMS.Max, rep.LatencyMS.Mean)
	pf("  errors\t%d\t(+%d during warm-up)", rep.Errors, rep.WarmupErrors)
	for _, reason := range slices.Sorted(maps.Keys(rep.ErrorsByReason)) {
		pf("    %d x %s\te.g. %s", rep.ErrorsByReason[reason], reason, rep.ErrorSamples[reason])
	}
	pf("")
	if rep.Instances > 1 {
		pf("servers (%d child processes on store %s, pids %v, public URL %s; figures are their sums)", rep.Instances, rep.Store, rep.Server.PIDs, rep.Server.URL)
	} else {
		pf("server (child process pid %d, %s, store %s)", rep.Server.PID, rep.Server.URL, rep.Store)
	}
	pf("  CPU per flow\t%.3f ms\t(%.2f cores busy on average)", rep.Server.CPUMSFlow, rep.Server.CPUCores)
	pf("  with the cores to itself\t%.1f flows/s\t= %.1f %% of the ceiling (%d cores ÷ server CPU per flow)", rep.Server.ImpliedFPS, rep.Server.ImpliedPct, rep.Cores)
	pf("  RSS start/end/peak\t%.1f / %.1f / %.1f MiB\t(peak = VmHWM over the process's life)", rep.Server.RSSStartMiB, rep.Server.RSSEndMiB, rep.Server.RSSPeakMiB)
	pf("    anonymous start/end\t%.1f / %.1f MiB\t(Go heap, stacks)", rep.Server.AnonStartMiB, rep.Server.AnonEndMiB)
	pf("    file-backed start/end\t%.1f / %.1f MiB\t(the store's memory map, the binary)", rep.Server.FileStartMiB, rep.Server.FileEndMiB)
	flat := "flat"
	if !rep.Server.MemoryFlat {
		flat = "GROWING"
	}
	pf("  RSS last third vs middle\t%+.1f %%\t%s (anonymous %+.1f %%, file-backed %+.1f %%)", rep.Server.RSSGrowth, flat, rep.Server.AnonGrowth, rep.Server.FileGrowth)
	pf("  stopped\tSIGTERM -> exit code %d after %.0f ms", rep.Server.ExitCode, rep.Server.StopMS)
	if e := rep.Etcd; e != nil {
		pf("etcd (pid %d)", e.PID)
		pf("  CPU per flow\t%.3f ms\t(%.2f cores busy on average)", e.CPUMSFlow, e.CPUCores)
		pf("  RSS start/end\t%.1f / %.1f MiB", e.RSSStartMiB, e.RSSEndMiB)
	}
	if rep.Server.Log != "" {
		pf("  log\t%s", rep.Server.Log)
	}
	pf("load generator (this process: mock Huawei IAM and browsers)")
	pf("  CPU per flow\t%.3f ms\t(%.2f cores busy on average)", rep.LoadGenCPUMS, rep.LoadGenCores)
	pf("other processes on the machine\t%.2f cores busy on average during the window", rep.OtherCPUCores)
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "from s\tto s\tflows/s\tp95 ms\terrors\tserver CPU ms/flow\tRSS MiB\tanon\tfile\t")
	for _, s := range rep.Timeline {
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.1f\t%.1f\t%d\t%.3f\t%.1f\t%.1f\t%.1f\t\n", s.FromS, s.ToS, s.FlowsPerSecond, s.P95MS, s.Errors, s.ServerCPUMSFlow, s.RSSMiB, s.AnonMiB, s.FileMiB)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "targets")
	for _, t := range rep.Targets {
		verdict := "PASS"
		if !t.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Name, t.Measured, verdict)
	}
	tw.Flush()
	verdict := "PASS"
	if !rep.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "verdict: %s\n", verdict)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
