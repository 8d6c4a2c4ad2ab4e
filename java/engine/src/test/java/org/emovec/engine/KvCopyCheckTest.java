package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.emovec.model.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KvCopyCheckTest {
    static Model model;

    @BeforeAll
    static void load() { model = Model.load(TestModels.tiny(), 0); }

    @AfterAll
    static void free() { model.close(); }

    @Test
    void aCopiedStreamReadsBackByteForByteAndOneChangedCellIsFound() {
        int[] prompt = model.tokenize("A story prompt long enough to fill a few dozen cells of the cache, once upon a time", true, false);
        for (GeneratorOptions.KvCache cache : GeneratorOptions.KvCache.values()) {
            KvCopyCheck.Result copy = KvCopyCheck.run(model, prompt, cache);
            assertTrue(copy.identical(), copy.describe());
            assertEquals(prompt.length, copy.cells());
            assertTrue(copy.bytes() > (long) prompt.length * model.layers() * 2 * 32, cache + ": the state holds every cell's K and V rows, " + copy.bytes() + " bytes");
            // the copy's last cell decoded from another token: the check must see it (in the data, not the header)
            KvCopyCheck.Result changed = KvCopyCheck.run(model, prompt, cache, prompt[prompt.length - 1] + 1);
            assertFalse(changed.identical(), cache + ": a changed cell went unseen");
            assertTrue(changed.firstDifference() >= 4L * prompt.length, changed.describe()); // past the positions
        }
    }
}
