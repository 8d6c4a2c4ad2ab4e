package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import org.bytedeco.javacpp.BytePointer;
import org.emovec.llama.llama_chat_message;
import org.emovec.llama.llama_model;
import org.emovec.llama.llama_model_params;
import org.emovec.llama.llama_vocab;

/** A loaded GGUF model: shape, tokenizer and chat template. Close it to free the weights. */
public final class Model implements AutoCloseable {
    private final Path path;
    private llama_model model;
    private final llama_vocab vocab;

    private Model(Path path, llama_model model) {
        this.path = path;
        this.model = model;
        this.vocab = llama_model_get_vocab(model);
    }

    /**
     * Loads a model. gpuLayers: layers to keep on the GPU (-1: all; ignored by a CPU build).
     * The file is checked in Java first, so a bad file gives a clear one-line error.
     */
    public static Model load(Path path, int gpuLayers) {
        ModelCheck.check(path);
        Native.init();
        llama_model_params p = llama_model_default_params();
        p.n_gpu_layers(gpuLayers);
        Native.takeLastError();
        llama_model m = llama_model_load_from_file(path.toString(), p);
        if (m == null || m.isNull()) {
            throw new EmovecException(path + ": llama.cpp could not load the model" + Native.lastErrorSuffix());
        }
        return new Model(path, m);
    }

    public Path path() { return path; }
    llama_model handle() { return live(); }

    public int layers() { return llama_model_n_layer(live()); }
    public int width() { return llama_model_n_embd(live()); }
    public int heads() { return llama_model_n_head(live()); }
    public int kvHeads() { return llama_model_n_head_kv(live()); }
    /** Values per attention head (a Llama's width over its heads). */
    public int headDim() { return width() / heads(); }
    public int vocabSize() { return llama_vocab_n_tokens(vocab); }
    public int trainedContext() { return llama_model_n_ctx_train(live()); }
    public long parameters() { return llama_model_n_params(live()); }
    public long bytes() { return llama_model_size(live()); }

    /** Throws the one-line error for a layer outside 0..layers-1 (layer L = the residual after block L). */
    public static void checkLayer(int layer, int layers) {
        if (layer < 0 || layer >= layers) {
            throw new EmovecException("layer " + layer + " is out of range: this model has layers 0.." + (layers - 1)
                    + " (layer L = the residual after block L = HF hidden_states[L+1])");
        }
    }

    public String description() {
        byte[] buf = new byte[256];
        int n = llama_model_desc(live(), buf, buf.length);
        return new String(buf, 0, Math.max(0, Math.min(n, buf.length)), StandardCharsets.UTF_8);
    }

    public boolean isEndOfGeneration(int token) { return llama_vocab_is_eog(vocab, token); }

    /** Token ids of text. addSpecial: add BOS as the model wants; parseSpecial: read "<|eot_id|>" etc. as control tokens. */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        // Explicit UTF-8 bytes: JavaCPP's String overloads would pass modified UTF-8.
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        try (BytePointer bytes = new BytePointer(utf8.length + 1)) {
            bytes.put(utf8).put(utf8.length, (byte) 0);
            int[] tokens = new int[utf8.length + 8];
            int n = llama_tokenize(vocab, bytes, utf8.length, tokens, tokens.length, addSpecial, parseSpecial);
            if (n < 0) {
                tokens = new int[-n];
                n = llama_tokenize(vocab, bytes, utf8.length, tokens, tokens.length, addSpecial, parseSpecial);
            }
            if (n < 0) throw new EmovecException("tokenization failed for a text of " + utf8.length + " bytes");
            return java.util.Arrays.copyOf(tokens, n);
        }
    }

    /** Text of tokens; special tokens (e.g. "<|eot_id|>") are rendered only when renderSpecial. */
    public String detokenize(int[] tokens, boolean renderSpecial) {
        byte[] buf = new byte[Math.max(64, tokens.length * 16)];
        int n = llama_detokenize(vocab, tokens, tokens.length, buf, buf.length, false, renderSpecial);
        if (n < 0) {
            buf = new byte[-n];
            n = llama_detokenize(vocab, tokens, tokens.length, buf, buf.length, false, renderSpecial);
        }
        return new String(buf, 0, n, StandardCharsets.UTF_8);
    }

    /**
     * The token positions [from, to) that spell the first occurrence of part in text, where tokens is text's
     * tokenization: every token whose bytes overlap part's. This is how a steering span is given as words
     * (e.g. the steered option of an A/B prompt).
     */
    public Span spanOf(int[] tokens, String text, String part) {
        int at = text.indexOf(part);
        if (at < 0) throw new EmovecException("'" + part + "' does not occur in the prompt '" + text + "'");
        return spanOf(tokens, text, at, at + part.length());
    }

    /** The token positions that spell the characters [start, end) of text (see {@link #spanOf(int[], String, String)}). */
    public Span spanOf(int[] tokens, String text, int start, int end) {
        int a = text.substring(0, start).getBytes(StandardCharsets.UTF_8).length;
        int b = a + text.substring(start, end).getBytes(StandardCharsets.UTF_8).length;
        int offset = 0, from = -1, to = -1;
        byte[] piece = new byte[256];
        java.io.ByteArrayOutputStream spelled = new java.io.ByteArrayOutputStream();
        byte[] textBytes = text.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < tokens.length; i++) {
            // special tokens spelled as text (a chat template's headers), except a BOS the tokenizer added itself
            boolean addedBos = i == 0 && tokens[0] == llama_vocab_bos(vocab) && !text.startsWith(detokenize(new int[] {tokens[0]}, true));
            int n = addedBos ? 0 : llama_token_to_piece(vocab, tokens[i], piece, piece.length, 0, true);
            if (n < 0) throw new EmovecException("token " + tokens[i] + " has a piece longer than " + piece.length + " bytes");
            spelled.write(piece, 0, n);
            if (n > 0 && offset < b && offset + n > a) {
                if (from < 0) from = i;
                to = i + 1;
            }
            offset += n;
        }
        if (!java.util.Arrays.equals(spelled.toByteArray(), textBytes)) {
            throw new EmovecException("the tokens do not spell the prompt text back exactly, so '" + text.substring(start, end) + "' cannot be located by token");
        }
        return Span.of(from, to);
    }

    /** The model's chat template text from its GGUF metadata, or null when it has none. */
    public String chatTemplate() {
        BytePointer t = llama_model_chat_template(live(), (BytePointer) null);
        return t == null || t.isNull() ? null : t.getString(StandardCharsets.UTF_8);
    }

    /**
     * Formats a conversation with the model's own chat template (llama.cpp's built-in renderer for that
     * template); addAssistant opens the assistant turn so that generation continues as the assistant.
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addAssistant) {
        String template = chatTemplate();
        if (template == null) throw new EmovecException(path + ": the model has no chat template (tokenizer.chat_template): use a chat (instruct) model, or plain prompts where a command takes them");
        BytePointer[] texts = new BytePointer[messages.size() * 2 + 1];
        try (llama_chat_message msgs = new llama_chat_message(messages.size())) {
            int total = 256;
            for (int i = 0; i < messages.size(); i++) {
                texts[2 * i] = new BytePointer(messages.get(i).role(), StandardCharsets.UTF_8);
                texts[2 * i + 1] = new BytePointer(messages.get(i).content(), StandardCharsets.UTF_8);
                msgs.getPointer(i).role(texts[2 * i]).content(texts[2 * i + 1]);
                total += messages.get(i).content().length() * 4 + 64;
            }
            BytePointer tmpl = texts[texts.length - 1] = new BytePointer(template, StandardCharsets.UTF_8);
            byte[] buf = new byte[total];
            int n = llama_chat_apply_template(tmpl, msgs, messages.size(), addAssistant, buf, buf.length);
            if (n > buf.length) {
                buf = new byte[n];
                n = llama_chat_apply_template(tmpl, msgs, messages.size(), addAssistant, buf, buf.length);
            }
            if (n < 0) throw new EmovecException(path + ": llama.cpp does not recognise this model's chat template");
            return new String(buf, 0, n, StandardCharsets.UTF_8);
        } finally {
            for (BytePointer p : texts) if (p != null) p.close();
        }
    }

    private llama_model live() {
        if (model == null) throw new IllegalStateException("model " + path + " is closed");
        return model;
    }

    @Override
    public void close() {
        if (model != null) {
            llama_model_free(model);
            model = null;
        }
    }
}
