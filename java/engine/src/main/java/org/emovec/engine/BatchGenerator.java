package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.javacpp.Pointer;
import org.emovec.llama.llama_batch;
import org.emovec.llama.llama_context;
import org.emovec.llama.llama_context_params;
import org.emovec.llama.llama_sampler;
import org.emovec.llama.llama_sampler_seq_config;

/**
 * Generates many sequences at once with continuous batching: up to {@code parallel} sequences share each
 * llama_decode call, each in its own KV-cache sequence; when one finishes its slot is refilled at once from
 * the queue, and its result is handed to the listener straight away. Sampling runs on the host in native
 * code (see emovec_sample), a pure function of each sequence's seed and step, so results do not depend on
 * batch size or order.
 * <p>
 * Requests with the same prompt (the paper's 12 stories per emotion and topic) prefill it once: a request whose
 * prompt another sequence of its context holds copies that sequence's KV stream (emovec_kv_copy: a device-side
 * copy queued on the context's stream) and decodes only the prompt's last token; one whose prompt is still being
 * prefilled waits for it. On CPU every request gets the same bits as alone on one slot, shared or not, on one
 * context or two (GenerationTest; llama.cpp is built without ggml's batch-width-dependent llamafile GEMM).
 * <p>
 * With GeneratorOptions.seqsPerStream above one (emovec's llama.cpp patch; 16 on a GPU, see
 * GeneratorOptions.STREAM_SEQS) a KV stream holds that many sequences: a request whose prompt a sequence of its
 * stream holds shares those cells (nothing is copied), a stream starts one new prompt at a time so that the prompt's
 * repeats follow it there, and attention reads the stream once for all its sequences' queries, so a shared prompt
 * once. llama.cpp then needs as many tokens for each stream of a micro-batch: free slots are padded over whole
 * streams, and one prompt tail a stream goes in each step, the step's tails padded to one length so that those of
 * consecutive streams run as one micro-batch (Lane.addStreamTails).
 * <p>
 * On a GPU the work goes through {@code lanes} llama.cpp contexts of {@code parallel} sequences each (two by
 * default), stepped in turn: while the GPU decodes one context's step, the host samples the other's last step and
 * prepares its next (llama.cpp's own input preparation included). With one context the GPU waits for the host
 * between steps, about a quarter of each step at 256 sequences of an 8B model on an H100. Measured there, two
 * contexts against one: +46% decode at 64 + 256 tokens (generate), +31% for 1,536 shared-prompt stories of up to
 * 300 tokens. Each context holds its own KV cache, so under a VRAM budget there is one.
 */
public final class BatchGenerator implements AutoCloseable {
    /** Receives each finished sequence as soon as it is done, and a tick after every decode step. */
    public interface Listener {
        void finished(GenerationResult result);

        default void step(int newTokens, int activeSequences) {}
    }

    private final Model model;
    private final GeneratorOptions options;
    private final List<Lane> lanes;
    private final int contextPerSequence;
    private final Stats stats = new Stats();
    private final boolean backendSampling;
    /** Sequences a KV stream holds (GeneratorOptions.seqsPerStream): those of one share its cells. */
    private final int seqsPerStream;
    /**
     * Candidates the hooks keep per logits row for the host sampler (system property emovec.hookTopK, default 64;
     * 0: none, every row is sampled from the full logits); requests with a larger top-k, or none, read the full
     * row, and only decodes where no request does keep their logits on the device.
     */
    private final int candidates;
    static int hookTopK() { return Integer.getInteger("emovec.hookTopK", 64); }
    private long lastCollect; // when the last step's results were in: each step is charged the wall time since

    /**
     * Where the time went. Decode-only steps (no prompt tokens in the batch) are what llama-batched-bench's
     * S_TG measures, so their rate is the like-for-like comparison; the overall rate includes prefill. With
     * several lanes a step is charged the wall time since the previous step of any lane came in.
     */
    public static final class Stats {
        public long prefillTokens, generatedTokens, steps;
        public long decodeOnlySteps, decodeOnlyTokens, decodeOnlyNanos;
        /** Host time in llama_decode and waiting for its results; in sampling; in all. */
        public long decodeNanos, sampleNanos, totalNanos;
        /**
         * Of decodeNanos, the time inside the llama_decode call itself: on a GPU, llama.cpp's host work for a step
         * (batch split, KV slots, inputs, graph launch), during which this thread queues nothing else.
         */
        public long submitNanos;
        /** Rows sampled from the hooks' candidates rather than the full logits row. */
        public long rowsFromCandidates;
        /** Decodes whose logits stayed on the device (llama.cpp did not copy them to the host). */
        public long logitsKeptOnDevice;
        /** Prompt tokens not prefilled because another sequence's KV cache held them. */
        public long sharedPromptTokens;
        /** Micro-batches llama.cpp ran: each reads every weight once, so a decode step should be one. */
        public long ubatches, decodeOnlyUbatches;
        /**
         * Sum over steps of the KV cells each step's attention spans: with a KV stream per sequence llama.cpp pads
         * it to the longest sequence in the micro-batch, rounded up to 256 (llama_kv_cache::get_n_kv), so once
         * sequences run out of step every sequence pays for the longest one. Estimated from the positions.
         */
        public long attendedCells;

        public double decodeOnlyTokensPerSecond() { return decodeOnlyTokens / (decodeOnlyNanos / 1e9); }
        public double generatedTokensPerSecond() { return generatedTokens / (totalNanos / 1e9); }
    }

    public BatchGenerator(Model model, GeneratorOptions options) {
        this.model = model;
        this.options = options;
        if (!options.kvCache().holds(model.headDim())) {
            throw new EmovecException("a " + options.kvCache().id() + " KV cache stores blocks of " + options.kvCache().type.blockSize + " values, and this model's heads hold "
                    + model.headDim() + ": use --kv-cache f16");
        }
        backendSampling = options.sampler() == GeneratorOptions.Sampler.BACKEND;
        seqsPerStream = options.seqsPerStream() > 0 ? options.seqsPerStream() : automaticSeqsPerStream(options);
        candidates = backendSampling ? 0 : Math.max(0, hookTopK());
        lanes = Lanes.open(options.lanes(), Lane::new, "generating");
        contextPerSequence = llama_n_ctx_seq(lanes.get(0).ctx);
    }

    public int contextPerSequence() { return contextPerSequence; }

    /**
     * GeneratorOptions.STREAM_SEQS on a GPU where prompts are shared (nothing to read once otherwise) in an F16 KV
     * cache, else one.
     */
    private static int automaticSeqsPerStream(GeneratorOptions o) {
        boolean fits = o.parallel() % GeneratorOptions.STREAM_SEQS == 0;
        boolean f16 = o.kvCache() == GeneratorOptions.KvCache.F16;
        return llama_supports_gpu_offload() && o.sharePrompts() && f16 && fits ? GeneratorOptions.STREAM_SEQS : 1;
    }

    /** Sequences that share one KV stream (see {@link GeneratorOptions#STREAM_SEQS}). */
    public int seqsPerStream() { return seqsPerStream; }

    /** llama.cpp contexts stepped in turn (see the class comment). */
    public int lanes() { return lanes.size(); }

    /**
     * The layers requests may capture (layer L = the residual after block L = HF hidden_states[L+1]); set
     * before {@link #run}. Steering needs no declaration.
     */
    public BatchGenerator captureLayers(int... layers) {
        for (Lane lane : lanes) lane.hooks.captureLayers(layers);
        return this;
    }

    public Stats stats() { return stats; }

    /** rowSlot of a padding token (see Lane.submit). */
    private static final int PADDING = -1;

    /** Rows a prompt tail may be padded by to run in one micro-batch with other streams' tails (Lane.addStreamTails). */
    private static final int TAIL_PADDING = 32;

    private static final class Slot {
        final int seq;
        GenerationRequest request;
        int fed;       // prompt tokens already decoded
        int past;      // tokens in this sequence's KV cache
        int pending = -1; // sampled token not yet decoded
        int[] out = new int[64];
        int nOut;
        Prompt prompt;  // the request's prompt when it may be shared (no capture, no steering), else null
        Prompt held;    // a prompt whose first length-1 tokens this sequence's KV cache holds (stays after finishing)
        boolean candidatesServe; // the hooks' candidates hold every token this request's sampling can pick

        Slot(int seq) { this.seq = seq; }

        boolean busy() { return request != null; }
        boolean prefilling() { return fed < request.prompt().length; }
        /** Prompt tokens left after the next one (which a step feeds with every busy sequence's row): its tail. */
        int promptRest() { return request.prompt().length - fed - 1; }

        void add(int token) {
            if (nOut == out.length) out = Arrays.copyOf(out, out.length * 2);
            out[nOut++] = token;
        }
    }

    /** Runs every request from the queue to completion; results reach the listener in the order they finish. */
    public void run(Iterator<GenerationRequest> queue, Listener listener) {
        live();
        long runStart = System.nanoTime();
        lastCollect = runStart;
        for (Lane lane : lanes) lane.start();
        Feeder feeder = new Feeder(queue);
        ArrayDeque<Lane> inFlight = new ArrayDeque<>(); // lanes in the order their steps were submitted
        while (true) {
            for (Lane lane : lanes) if (!inFlight.contains(lane) && lane.submit(feeder, listener)) inFlight.add(lane);
            Lane lane = inFlight.poll();
            if (lane == null) break;
            lane.collect(listener);
        }
        stats.totalNanos += System.nanoTime() - runStart;
    }

    /**
     * One llama.cpp context with its sequence slots: a step is submitted (batch built, llama_decode queued) and
     * later collected (results awaited, tokens sampled, finished sequences handed on).
     */
    private final class Lane implements AutoCloseable {
        final llama_context ctx;
        final llama_batch batch;
        final Hooks hooks; // logits reduction for the host sampler; residual capture and steering
        final llama_sampler[] chains; // BACKEND: the chain each sequence slot samples with
        llama_sampler_seq_config chainConfigs;
        final Pointer memory;
        final Slot[] slots = new Slot[options.parallel()];
        int running; // busy slots
        // the step in flight
        final int[] tokens, pos, seqs, rowSlot;
        final byte[] wantLogits;
        int count;
        long submitNanos;
        final int[] rows, topKs, steps, sampled;
        final float[] temps, topPs;
        final long[] seeds;

        Lane() {
            llama_context_params p = llama_context_default_params();
            p.n_ctx((long) options.parallel() * options.contextPerSequence() > Integer.MAX_VALUE ? Integer.MAX_VALUE
                    : options.parallel() * options.contextPerSequence());
            p.n_batch(options.batchTokens());
            // A decode step is one micro-batch of up to 256 rows whatever this is; a step that also prefills new
            // prompts (their tails split evenly over the prefilling sequences by llama.cpp's split_equal) runs in
            // micro-batches of this size, whose products run faster the more rows they have (under a VRAM budget
            // batchTokens is the plan's micro-batch, 512 or less)
            p.n_ubatch(Math.min(options.batchTokens(), 2048));
            p.n_seq_max(options.parallel());
            p.n_threads(options.threads());
            p.n_threads_batch(options.threads());
            p.kv_unified(false); // a KV stream per sequence keeps attention cheap; shared prompts are copied between streams
            p.type_k(options.kvCache().type.id);
            p.type_v(options.kvCache().type.id);
            // On CPU, llama.cpp's flash attention over an F16 cache sums in an order that depends on how many queries
            // a micro-batch holds, so a sequence's tokens would depend on its batch; without it they do not
            // (PipelineTest). A quantized V cache needs it, and there each query row is summed alone, in one order
            // (ggml-cpu's flash_attn_ext tiles and splits F16/F32 caches only). On CUDA the kernels' choice depends
            // on batch shape either way: there, regeneration matches only in law.
            if (!llama_supports_gpu_offload()) p.flash_attn_type(options.kvCache() == GeneratorOptions.KvCache.F16 ? 0 : 1);
            p.no_perf(true);
            chains = new llama_sampler[options.parallel()];
            if (backendSampling) {
                // llama.cpp wants the chains at creation (set later per request with llama_set_sampler).
                chainConfigs = new llama_sampler_seq_config(options.parallel());
                for (int i = 0; i < chains.length; i++) {
                    chains[i] = chain(Sampling.greedy());
                    chainConfigs.getPointer(i).seq_id(i).sampler(chains[i]);
                }
                p.samplers(chainConfigs).n_samplers(options.parallel());
            }
            hooks = new Hooks(model, options.parallel(), candidates);
            Native.takeLastError();
            ctx = emovec_init_context(model.handle(), p, seqsPerStream);
            if (ctx == null || ctx.isNull()) {
                String why = Native.lastErrorSuffix();
                hooks.close();
                freeChains();
                throw new EmovecException("cannot create a context for " + options.parallel() + " sequences of "
                        + options.contextPerSequence() + " tokens" + why
                        + ": lower --parallel or --ctx");
            }
            hooks.attach(ctx);
            if (backendSampling) llama_synchronize(ctx);
            batch = llama_batch_init(options.batchTokens(), 0, 1);
            memory = llama_get_memory(ctx);
            int n = options.batchTokens();
            tokens = new int[n]; pos = new int[n]; seqs = new int[n]; rowSlot = new int[n];
            wantLogits = new byte[n];
            int k = slots.length;
            rows = new int[k]; topKs = new int[k]; steps = new int[k]; sampled = new int[k];
            temps = new float[k]; topPs = new float[k];
            seeds = new long[k];
        }

        /** A new run: empty slots. */
        void start() {
            for (int i = 0; i < slots.length; i++) slots[i] = new Slot(i);
            running = 0;
        }

        int free() { return slots.length - running; }

        /** Whether a and b share a KV stream. */
        boolean sameStream(Slot a, Slot b) { return a.seq / seqsPerStream == b.seq / seqsPerStream; }

        /**
         * Whether another slot of s's KV stream is prefilling a prompt (more than its last token), where a stream
         * holds several sequences: it then takes no new prompt, so that the prompt's repeats follow it into the
         * stream, and each micro-batch gives every stream as many tokens (one prompt's tail at most).
         */
        boolean streamPrefills(Slot s) {
            if (seqsPerStream == 1) return false;
            for (Slot o : slots) if (o.busy() && sameStream(o, s) && o.promptRest() > 0) return true;
            return false;
        }

        /** Appends one token of sequence seq at position p to the batch being built; slot: its Slot, or PADDING. */
        private void addRow(int token, int p, int seq, boolean logits, int slot) {
            tokens[count] = token; pos[count] = p; seqs[count] = seq; wantLogits[count] = (byte) (logits ? 1 : 0);
            rowSlot[count++] = slot;
        }

        /** Appends take prompt tokens of s from prompt position from (the prompt's last one wants its logits). */
        private void addPrompt(Slot s, int from, int take) {
            int[] prompt = s.request.prompt();
            for (int p = from; p < from + take; p++) addRow(prompt[p], p, s.seq, p == prompt.length - 1, s.seq);
        }

        /** Fills free slots, builds the next batch and queues its decode; false when this lane has nothing to do. */
        boolean submit(Feeder feeder, Listener listener) {
            for (Slot s : slots) {
                Feeder.Start start;
                while (!s.busy() && (start = feeder.next(this, s)) != null) assign(this, s, start, listener);
            }
            // Build one batch: first one token of every busy sequence in sequence order (its pending token, or the
            // next prompt token), then the rest of the prompts as room allows. With a KV stream per sequence,
            // llama.cpp puts sequences in one micro-batch only while their ids run consecutively in batch order
            // (llama_batch_allocr::split_equal), and every micro-batch reads all the weights: listing decoding
            // sequences alone first would split each step at every sequence still prefilling, more and more
            // often as sequences drift out of step over a long run. For the same reason a free slot between busy
            // ones (its sequence done, and no request to follow yet, or one waiting for its prompt's donor) decodes
            // a padding token nobody reads: otherwise each step would run as two micro-batches, the first stopping
            // the host for its logits (H100, 8B: 1.7-2.1 micro-batches a decode step in 512 stories before).
            // Where a KV stream holds several sequences, llama.cpp needs as many tokens for each stream a micro-batch
            // spans: the padding then runs over whole streams, and one prompt a stream at most adds its tail.
            int n = tokens.length;
            count = 0;
            int firstBusy = -1, lastBusy = -1;
            for (Slot s : slots) if (s.busy()) { if (firstBusy < 0) firstBusy = s.seq; lastBusy = s.seq; }
            if (firstBusy >= 0) {
                firstBusy = firstBusy / seqsPerStream * seqsPerStream;
                lastBusy = (lastBusy / seqsPerStream + 1) * seqsPerStream - 1;
            }
            boolean hostLogits = false; // some row sampled here needs more than the hooks' candidates
            for (Slot s : slots) {
                if (!s.busy()) {
                    // after what the free slot's cache holds (kept for a later request)
                    if (s.seq >= firstBusy && s.seq <= lastBusy) addRow(0, s.past, s.seq, false, PADDING);
                    continue;
                }
                if (s.prefilling()) addPrompt(s, s.fed, 1);
                else addRow(s.pending, s.past, s.seq, true, s.seq);
                hostLogits |= !s.candidatesServe;
            }
            if (seqsPerStream > 1) {
                addStreamTails(n);
            } else {
                for (Slot s : slots) {
                    if (s.busy() && s.prefilling() && count < n) addPrompt(s, s.fed + 1, Math.min(s.promptRest(), n - count));
                }
            }
            if (count == 0) return false;
            long t0 = System.nanoTime();
            emovec_batch_fill(batch, count, tokens, pos, seqs, wantLogits);
            hooks.begin(count, pos, seqs, wantLogits, llama_n_ubatch(ctx), options.parallel() > seqsPerStream ? seqsPerStream : 0, hostLogits);
            int rc = llama_decode(ctx, batch); // on a GPU: returns once the work is queued
            if (rc != 0) {
                throw new EmovecException("llama_decode failed with code " + rc + Native.lastErrorSuffix()
                        + (rc == 1 ? ": the KV cache is full, lower --parallel or raise --ctx" : ""));
            }
            submitNanos = System.nanoTime() - t0;
            return true;
        }

        /**
         * Where a KV stream holds several sequences: the rest of one prompt a stream, each padded to the longest of
         * them where that takes at most TAIL_PADDING rows and nothing reads the rows (no capture, no steering).
         * llama.cpp's split_equal (with emovec's patch) runs the tails of consecutive streams as one micro-batch, but
         * gives each as many rows: unequal tails would leave remainders that run as micro-batches of their own, each
         * reading all the weights (8B, H100: ~16 ms for a tail of 220 rows, as much as 1,000 rows in one). Padding
         * rows come after the prompt's last token and are removed after the step, as a free slot's are. Tails go
         * whole while the batch has room; only the first is cut to it (a prompt longer than the batch).
         */
        private void addStreamTails(int n) {
            List<Slot> tails = new ArrayList<>();
            int longest = 0;
            for (Slot s : slots) {
                if (!s.busy() || !s.prefilling()) continue;
                int rest = s.promptRest();
                if (rest <= 0 || (!tails.isEmpty() && sameStream(tails.get(tails.size() - 1), s))) continue;
                tails.add(s);
                longest = Math.max(longest, rest);
            }
            for (Slot s : tails) {
                int length = s.request.prompt().length, rest = s.promptRest();
                int pad = s.request.mayShare() && longest - rest <= TAIL_PADDING && length + longest - rest <= contextPerSequence ? longest - rest : 0;
                if (count + rest + pad > n) {
                    if (s == tails.get(0)) addPrompt(s, s.fed + 1, Math.min(rest, n - count));
                    break;
                }
                addPrompt(s, s.fed + 1, rest);
                for (int p = length; p < length + pad; p++) addRow(0, p, s.seq, false, PADDING);
            }
        }

        /** Waits for the submitted step, samples its rows, and hands on the sequences it finished. */
        void collect(Listener listener) {
            long t0 = System.nanoTime();
            llama_synchronize(ctx);
            hooks.end();
            if (!hooks.logitsCopied()) stats.logitsKeptOnDevice++;
            long decoded = System.nanoTime();
            int ubatches = hooks.ubatches();
            int longest = 0;
            for (int i = 0; i < count; i++) longest = Math.max(longest, pos[i] + 1);
            stats.attendedCells += Math.min(contextPerSequence, Math.max(256, (longest + 255) / 256 * 256));
            // Advance positions; collect the rows whose logits we sample.
            int nRows = 0, prefill = 0;
            for (int i = 0; i < count; i++) {
                if (rowSlot[i] == PADDING) {
                    boolean removed = i > 0 && rowSlot[i - 1] == PADDING && seqs[i - 1] == seqs[i]; // with the row before
                    if (!removed) llama_memory_seq_rm(memory, seqs[i], pos[i], -1);
                    continue;
                }
                Slot s = slots[rowSlot[i]];
                if (s.prefilling()) {
                    s.fed++;
                    prefill++;
                    if (!s.prefilling() && s.prompt != null) s.held = s.prompt;
                }
                s.past++;
                if (wantLogits[i] != 0) {
                    Sampling sp = s.request.sampling();
                    rows[nRows] = i; temps[nRows] = sp.temperature(); topKs[nRows] = sp.topK(); topPs[nRows] = sp.topP();
                    seeds[nRows] = sp.seed(); steps[nRows] = s.nOut; sampled[nRows] = s.seq;
                    nRows++;
                }
            }
            int[] out = new int[nRows];
            if (backendSampling) {
                for (int r = 0; r < nRows; r++) {
                    out[r] = llama_get_sampled_token_ith(ctx, rows[r]);
                    if (out[r] < 0) throw new EmovecException("llama.cpp's backend sampler returned no token (this model or backend may not support it: use --sampler host)");
                    llama_sampler_accept(chains[sampled[r]], out[r]);
                }
            } else {
                int fromCandidates = emovec_sample(ctx, candidates > 0 ? hooks.handle() : null, nRows, rows, temps, topKs, topPs, seeds, steps, out, options.threads());
                if (fromCandidates < 0) throw new EmovecException("llama.cpp returned no logits for a sampled row (internal error)");
                stats.rowsFromCandidates += fromCandidates;
            }
            long sampledAt = System.nanoTime();
            for (int r = 0; r < nRows; r++) {
                Slot s = slots[sampled[r]];
                int t = out[r];
                String stop = null;
                if (!options.ignoreEndOfTurn() && model.isEndOfGeneration(t)) {
                    stop = "eog";
                } else {
                    s.add(t);
                    if (s.nOut >= s.request.maxNewTokens()) stop = "length";
                    else if (s.past + 1 >= contextPerSequence) stop = "context";
                }
                if (stop != null) finish(this, s, stop, listener);
                else s.pending = t;
            }
            long stepEnd = System.nanoTime();
            long wall = stepEnd - lastCollect;
            lastCollect = stepEnd;
            stats.steps++;
            stats.prefillTokens += prefill;
            stats.generatedTokens += nRows;
            stats.decodeNanos += submitNanos + decoded - t0;
            stats.submitNanos += submitNanos;
            stats.sampleNanos += sampledAt - decoded;
            stats.ubatches += ubatches;
            if (prefill == 0) {
                stats.decodeOnlyUbatches += ubatches;
                stats.decodeOnlySteps++;
                stats.decodeOnlyTokens += nRows;
                stats.decodeOnlyNanos += wall;
            }
            int active = 0;
            for (Lane lane : lanes) active += lane.running;
            listener.step(nRows, active);
        }

        /**
         * Which of this context's slots whose KV cache s can share holds which prompt (a scan: cheap next to a decode
         * step, and never stale). Where a stream holds several sequences, only those of s's stream.
         */
        Map<Prompt, Slot> donors(Slot s) {
            Map<Prompt, Slot> m = new HashMap<>();
            for (Slot o : slots) if (o.held != null && (seqsPerStream == 1 || sameStream(o, s))) m.putIfAbsent(o.held, o);
            return m;
        }

        private void freeChains() {
            for (llama_sampler c : chains) if (c != null) llama_sampler_free(c);
            if (chainConfigs != null) chainConfigs.close();
        }

        @Override
        public void close() {
            llama_batch_free(batch);
            llama_free(ctx);
            freeChains();
            hooks.close();
        }
    }

    private void assign(Lane lane, Slot s, Feeder.Start start, Listener listener) {
        GenerationRequest r = start.request();
        Slot donor = start.donor();
        int shared = donor == null ? 0 : r.prompt().length - 1; // the last prompt token is decoded for its logits
        if (donor != null && donor != s) {
            // within a stream the copy adds s to the donor's cells: first s lets go of what it held
            llama_memory_seq_rm(lane.memory, s.seq, 0, -1);
            if (emovec_kv_copy(lane.ctx, donor.seq, s.seq) != 0) { // the donor's cells; trimmed below
                throw new EmovecException("cannot copy the KV cache of sequence " + donor.seq + " to " + s.seq + Native.lastErrorSuffix());
            }
        }
        llama_memory_seq_rm(lane.memory, s.seq, shared, -1);
        if (backendSampling) {
            llama_sampler fresh = chain(r.sampling());
            if (!llama_set_sampler(lane.ctx, s.seq, fresh)) {
                llama_sampler_free(fresh);
                throw new EmovecException("llama.cpp cannot run this sampler on the device: use --sampler host");
            }
            llama_sampler_free(lane.chains[s.seq]);
            lane.chains[s.seq] = fresh;
        }
        s.request = r;
        lane.running++;
        Sampling sp = r.sampling();
        s.candidatesServe = candidates > 0 && (sp.temperature() <= 0 || (sp.topK() >= 1 && sp.topK() <= candidates));
        s.prompt = start.prompt();
        if (s.prompt == null || !s.prompt.equals(s.held)) s.held = null;
        s.fed = shared;
        s.past = shared;
        stats.sharedPromptTokens += shared;
        s.nOut = 0;
        s.pending = -1;
        if (r.capture() != null) lane.hooks.capture(s.seq, r.capture(), r.prompt().length + r.maxNewTokens());
        lane.hooks.steer(s.seq, r.steering());
        if (r.prompt().length >= contextPerSequence) finish(lane, s, "prompt_too_long", listener);
    }

    /** A prompt as a map key. */
    private record Prompt(int[] tokens, int hash) {
        static Prompt of(int[] tokens) { return new Prompt(tokens, Arrays.hashCode(tokens)); }

        @Override public boolean equals(Object o) { return o instanceof Prompt p && p.hash == hash && Arrays.equals(p.tokens, tokens); }
        @Override public int hashCode() { return hash; }
    }

    /**
     * Hands free slots their next request, with the slot of the same context whose KV cache already holds its
     * prompt (the donor), if any: a KV cache is copied only within a context. A request whose prompt a slot of any
     * context holds or is prefilling is held back for that context (it runs there once a slot is free), so each
     * prompt is prefilled once while the queue lasts; a slot whose prompt has requests held back runs them one after
     * another in place. New prompts are dealt to the contexts in turn: one whose turn belongs to another context
     * with free slots is left for it (its repeats held back for it), so a context filling its slots does not take
     * every prompt of a short queue to prefill while the others idle, and prefill them again later. A prompt dealt
     * to a context with no free slot goes to whoever asks. Once the queue is empty, a free slot takes a held-back
     * request whose context has no free slot, prefilling its prompt again where no donor holds it.
     */
    private final class Feeder {
        record Start(GenerationRequest request, Prompt prompt, Slot donor) {}

        /** Requests held back for one prompt, and the context they were held back for. */
        private record Waiting(ArrayDeque<GenerationRequest> requests, Lane lane) {}

        private final Iterator<GenerationRequest> queue;
        private final Map<Prompt, Waiting> waiting = new LinkedHashMap<>();
        private int nWaiting;
        private final int maxWaiting = 64 * options.parallel() * lanes.size();
        private final Map<Lane, ArrayDeque<GenerationRequest>> dealt = new HashMap<>(); // new prompts left for a context
        private final Map<Prompt, Lane> dealtTo = new HashMap<>();
        private int turn; // new prompts read so far: whose turn the next one is

        Feeder(Iterator<GenerationRequest> queue) {
            this.queue = queue;
            for (Lane lane : lanes) dealt.put(lane, new ArrayDeque<>());
        }

        /** The next request for free slot s of lane, or null when none can start now. */
        Start next(Lane lane, Slot s) {
            if (s.held != null && waiting.containsKey(s.held)) return take(s.held, s);
            Map<Prompt, Slot> donors = lane.donors(s); // slots change only after this returns
            for (Prompt p : waiting.keySet()) if (donors.containsKey(p)) return take(p, donors.get(p));
            if (lane.streamPrefills(s)) return null; // its stream's new prompt first: its repeats follow it there
            if (!dealt.get(lane).isEmpty()) return startDealt(lane);
            while (queue.hasNext()) {
                GenerationRequest r = queue.next();
                if (!options.sharePrompts() || !r.mayShare()) return new Start(r, null, null);
                Prompt p = Prompt.of(r.prompt());
                if (p.equals(s.held)) return new Start(r, p, s);
                Slot donor = donors.get(p);
                if (donor != null) return new Start(r, p, donor);
                Lane claimant = nWaiting < maxWaiting ? claimant(p, true) : null;
                if (claimant != null) {
                    waiting.computeIfAbsent(p, k -> new Waiting(new ArrayDeque<>(), claimant)).requests.add(r);
                    nWaiting++;
                    continue;
                }
                Lane due = lanes.get(turn++ % lanes.size());
                if (due != lane && due.free() > dealt.get(due).size()) {
                    dealt.get(due).add(r);
                    dealtTo.put(p, due);
                    continue;
                }
                return new Start(r, p, null);
            }
            for (Lane other : lanes) if (other.free() == 0 && !dealt.get(other).isEmpty()) return startDealt(other);
            for (Map.Entry<Prompt, Waiting> e : waiting.entrySet()) {
                Lane home = e.getValue().lane;
                if ((home == lane || home.free() == 0) && claimant(e.getKey(), false) == null) return take(e.getKey(), null);
            }
            return null;
        }

        /** The first new prompt dealt to from, started by the slot asking (its held-back repeats follow it there). */
        private Start startDealt(Lane from) {
            GenerationRequest r = dealt.get(from).poll();
            Prompt p = Prompt.of(r.prompt());
            dealtTo.remove(p);
            return new Start(r, p, null);
        }

        private Start take(Prompt p, Slot donor) {
            Waiting w = waiting.get(p);
            GenerationRequest r = w.requests.poll();
            if (w.requests.isEmpty()) waiting.remove(p);
            nWaiting--;
            return new Start(r, p, donor);
        }

        /** The context with a slot prefilling prompt p or dealt it (or, with held, holding it), or null. */
        private Lane claimant(Prompt p, boolean held) {
            Lane to = dealtTo.get(p);
            if (to != null) return to;
            for (Lane lane : lanes) {
                for (Slot s : lane.slots) {
                    if ((s.busy() && s.prefilling() && p.equals(s.prompt)) || (held && p.equals(s.held))) return lane;
                }
            }
            return null;
        }
    }

    /** A llama.cpp sampler chain with the same semantics as emovec's host sampler. */
    private static llama_sampler chain(Sampling s) {
        llama_sampler c = llama_sampler_chain_init(llama_sampler_chain_default_params());
        if (s.temperature() <= 0) {
            llama_sampler_chain_add(c, llama_sampler_init_greedy());
            return c;
        }
        if (s.topK() > 0) llama_sampler_chain_add(c, llama_sampler_init_top_k(s.topK()));
        if (s.topP() < 1) llama_sampler_chain_add(c, llama_sampler_init_top_p(s.topP(), 1));
        llama_sampler_chain_add(c, llama_sampler_init_temp(s.temperature()));
        llama_sampler_chain_add(c, llama_sampler_init_dist((int) (s.seed() ^ (s.seed() >>> 32))));
        return c;
    }

    private void finish(Lane lane, Slot s, String stop, Listener listener) {
        int[] generated = Arrays.copyOf(s.out, s.nOut);
        GenerationRequest r = s.request;
        s.request = null;
        lane.running--;
        // the cache keeps only the prompt another request may share: shorter copies, less attention for padding
        s.past = s.held == null ? 0 : s.held.tokens().length - 1;
        llama_memory_seq_rm(lane.memory, s.seq, s.past, -1);
        Captured captured = lane.hooks.finish(s.seq);
        listener.finished(new GenerationResult(r.id(), r.prompt().length, generated, model.detokenize(generated, false), stop, captured));
    }

    /** Convenience: runs a list and returns the results in request order. */
    public List<GenerationResult> generateAll(List<GenerationRequest> requests) {
        java.util.Map<String, GenerationResult> byId = new java.util.HashMap<>();
        run(requests.iterator(), r -> byId.put(r.id(), r));
        List<GenerationResult> ordered = new ArrayList<>(requests.size());
        for (GenerationRequest r : requests) ordered.add(byId.get(r.id()));
        return ordered;
    }

    private void live() {
        if (lanes.isEmpty()) throw new IllegalStateException("generator is closed");
    }

    @Override
    public void close() {
        for (Lane lane : lanes) lane.close();
        lanes.clear();
    }
}
