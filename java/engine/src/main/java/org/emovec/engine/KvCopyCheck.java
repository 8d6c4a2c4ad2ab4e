package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import org.emovec.llama.llama_batch;
import org.emovec.llama.llama_context;
import org.emovec.llama.llama_context_params;

/**
 * Checks emovec_kv_copy on whatever backend llama.cpp runs: a prompt prefilled in one KV stream and copied to
 * another (as shared story prompts are) must read back byte for byte. Both streams are read through llama.cpp's
 * own state API (llama_state_seq_get_data: each cell's position and its K and V rows, whatever the layout), so the
 * check does not share code with the copy it checks. Cheap (one prompt's cells), so `emovec bench` runs it on the
 * GPU machine each time.
 */
public final class KvCopyCheck {
    private KvCopyCheck() {}

    /** cells: the prompt's; bytes: their positions and rows; firstDifference: a byte offset in those, or -1 when identical. */
    public record Result(GeneratorOptions.KvCache cache, int cells, long bytes, long firstDifference) {
        public boolean identical() { return firstDifference < 0; }

        public String describe() {
            return cache.id() + " KV cache, " + cells + " cells: " + (identical() ? bytes + " bytes identical"
                    : "the copy differs at byte " + firstDifference + " of " + bytes);
        }
    }

    public static Result run(Model model, int[] prompt, GeneratorOptions.KvCache cache) {
        return run(model, prompt, cache, -1);
    }

    /** With replaceLast >= 0, the copy's last cell is decoded again from that token: a copy the check must fail. */
    static Result run(Model model, int[] prompt, GeneratorOptions.KvCache cache, int replaceLast) {
        int n = prompt.length;
        llama_context_params p = llama_context_default_params();
        p.n_ctx(2 * ((n + 255) / 256 * 256));
        p.n_batch(n);
        p.n_ubatch(n);
        p.n_seq_max(2);
        p.kv_unified(false); // a stream per sequence, as the generator has: the copy moves data between streams
        p.type_k(cache.type.id);
        p.type_v(cache.type.id);
        if (!llama_supports_gpu_offload() && cache != GeneratorOptions.KvCache.F16) p.flash_attn_type(1); // as BatchGenerator
        p.no_perf(true);
        Native.takeLastError();
        llama_context ctx = llama_init_from_model(model.handle(), p);
        if (ctx == null || ctx.isNull()) throw new EmovecException("cannot create a context to check the KV copy" + Native.lastErrorSuffix());
        llama_batch batch = llama_batch_init(n, 0, 1);
        try {
            decode(ctx, batch, prompt, 0, 0);
            if (emovec_kv_copy(ctx, 0, 1) != 0) throw new EmovecException("cannot copy a KV stream" + Native.lastErrorSuffix());
            if (replaceLast >= 0) {
                llama_memory_seq_rm(llama_get_memory(ctx), 1, n - 1, -1);
                decode(ctx, batch, new int[] {replaceLast}, n - 1, 1);
            }
            llama_synchronize(ctx);
            byte[] a = cells(state(ctx, 0), n), b = cells(state(ctx, 1), n);
            return new Result(cache, n, a.length, Arrays.mismatch(a, b));
        } finally {
            llama_batch_free(batch);
            llama_free(ctx);
        }
    }

    private static void decode(llama_context ctx, llama_batch batch, int[] tokens, int from, int seq) {
        int n = tokens.length;
        int[] pos = new int[n], seqs = new int[n];
        byte[] logits = new byte[n];
        for (int i = 0; i < n; i++) { pos[i] = from + i; seqs[i] = seq; }
        logits[n - 1] = 1;
        emovec_batch_fill(batch, n, tokens, pos, seqs, logits);
        int rc = llama_decode(ctx, batch);
        if (rc != 0) throw new EmovecException("llama_decode failed with code " + rc + " while checking the KV copy" + Native.lastErrorSuffix());
    }

    /**
     * What a sequence's state says of its cells, less the sequence id: each cell's position, then the K and V rows.
     * The state (llama_context::state_seq_get_data, llama_kv_cache::state_write) is: a magic number and the sequence
     * id, the number of streams, then per stream its cell count and, where non-zero, per cell its position, its
     * sequence count and ids, then the rows. A sequence fills one stream.
     */
    private static byte[] cells(byte[] state, int n) {
        ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
        in.getInt(); // magic
        in.getInt(); // sequence id
        int streams = in.getInt();
        for (int stream = 0; stream < streams; stream++) {
            int count = in.getInt();
            if (count == 0) continue;
            if (count != n) throw new EmovecException("the KV state holds " + count + " cells of the sequence, not " + n);
            ByteBuffer out = ByteBuffer.allocate(state.length).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) {
                out.putInt(in.getInt()); // position
                int ids = in.getInt();
                if (ids != 1) throw new EmovecException("unexpected KV state layout (" + ids + " sequence ids in a cell): llama.cpp's state format changed");
                in.getInt(); // the sequence id: 0 in one, 1 in the other
            }
            int rows = state.length - in.position() - 4 * (streams - 1 - stream); // later streams are empty: a count each
            out.put(state, in.position(), rows);
            return Arrays.copyOf(out.array(), out.position());
        }
        throw new EmovecException("the KV state holds no cells of the sequence");
    }

    private static byte[] state(llama_context ctx, int seq) {
        byte[] out = new byte[(int) llama_state_seq_get_size(ctx, seq)];
        long written = llama_state_seq_get_data(ctx, out, out.length, seq);
        return written == out.length ? out : Arrays.copyOf(out, (int) written);
    }
}
