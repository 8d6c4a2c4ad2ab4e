package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import org.emovec.model.TestModels;
import org.junit.jupiter.api.Test;

/** Our tiny models carry the real Llama 3 tokenizer: it must give llama.cpp's own reference token ids. */
class TokenizerTest {
    private static String resource(String name) throws Exception {
        try (InputStream in = TokenizerTest.class.getResourceAsStream("/" + name)) {
            assertNotNull(in, name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void matchesLlamaCppReferenceTokenizations() throws Exception {
        // llama.cpp's format: texts separated by "\n__ggml_vocab_test__\n"; one line of ids per text.
        String[] texts = resource("ggml-vocab-llama-bpe.gguf.inp").split("\n__ggml_vocab_test__\n", -1);
        List<String> expected = Arrays.asList(resource("ggml-vocab-llama-bpe.gguf.out").split("\n", -1));
        assertTrue(texts.length >= 40, "reference cases");
        try (Model m = Model.load(TestModels.tiny(), 0)) {
            int checked = 0;
            for (int i = 0; i < texts.length - 1; i++) {
                int[] want = expected.get(i).isBlank() ? new int[0]
                        : Arrays.stream(expected.get(i).trim().split(" +")).mapToInt(Integer::parseInt).toArray();
                assertArrayEquals(want, m.tokenize(texts[i], false, false), "case " + i + ": '" + texts[i] + "'");
                checked++;
            }
            assertEquals(expected.size() - 1, checked);
        }
    }

    @Test
    void chatTemplateIsLlama31AndSpecialTokensParse() {
        try (Model m = Model.load(TestModels.tiny(), 0)) {
            String s = m.applyChatTemplate(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi")), true);
            // llama.cpp's llama3 renderer leaves <|begin_of_text|> to the tokenizer (add_special).
            assertEquals("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", s);
            int[] ids = m.tokenize(s, true, true);
            assertEquals(128000, ids[0]); // <|begin_of_text|>
            assertEquals(128006, ids[1]); // <|start_header_id|>, parsed as one control token
            assertTrue(m.isEndOfGeneration(128009), "<|eot_id|> ends a turn");
            assertEquals("Hello world", m.detokenize(m.tokenize("Hello world", false, false), false));
        }
    }
}
