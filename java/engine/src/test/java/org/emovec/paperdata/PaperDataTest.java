package org.emovec.paperdata;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

/** The shipped data has the sizes and shapes the paper states. */
class PaperDataTest {
    @Test
    void theListsHaveThePapersSizes() {
        List<PaperData.Emotion> emotions = PaperData.emotions();
        assertEquals(171, emotions.size());
        assertEquals(171, emotions.stream().map(PaperData.Emotion::word).distinct().count(), "no duplicate emotion");
        assertEquals(10, emotions.stream().map(PaperData.Emotion::cluster).distinct().count(), "10 clusters");
        assertEquals(100, PaperData.topics().size());
        assertEquals(12, PaperData.implicitScenarios().size());
        assertEquals(6, PaperData.numericalTemplates().size());
        Map<String, Long> perCategory = PaperData.activities().stream()
                .collect(Collectors.groupingBy(PaperData.Activity::category, Collectors.counting()));
        assertEquals(8, perCategory.size());
        assertTrue(perCategory.values().stream().allMatch(n -> n == 8), perCategory.toString());
    }

    @Test
    void everyEmotionTheChecksNameIsInTheList() {
        Set<String> words = new HashSet<>();
        PaperData.emotions().forEach(e -> words.add(e.word()));
        for (String w : List.of("blissful", "hostile", "afraid", "calm")) assertTrue(words.contains(w), w);
        PaperData.implicitScenarios().forEach(s -> assertTrue(words.contains(s.emotion()), s.emotion()));
        PaperData.numericalTemplates().forEach(t -> {
            assertTrue(t.template().contains("{X}"), t.name());
            t.emotions().forEach(e -> assertTrue(words.contains(e), t.name() + ": " + e));
        });
    }

    @Test
    void thePromptsHaveTheirSlots() {
        String story = PaperData.storyPrompt();
        for (String slot : List.of("{n_stories}", "{topic}", "{emotion}")) assertTrue(story.contains(slot), slot);
        assertFalse(PaperData.neutralDialoguesPrompt().isEmpty());
        assertTrue(PaperData.sources().contains("2604.07729"));
    }
}
