package verdict.tools;

import java.util.Locale;
import java.util.Set;

import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import org.h2.mvstore.MVStore;

/**
 * H2Backend, made durable before it acknowledges: after every command that can
 * write, the MVStore is committed and synced to disk before the answer goes back.
 * H2Backend alone commits in the background about once a second, so a kill -9
 * lost what it had acknowledged in the last second (28 audit records in one run).
 */
final class DurableH2Backend extends H2Backend {

    /** Commands that change data or indexes (compared lowercased). */
    private static final Set<String> WRITES = Set.of(
            "insert", "update", "delete", "findandmodify", "createindexes", "dropindexes",
            "drop", "dropdatabase", "create", "renamecollection");

    DurableH2Backend(String fileName) {
        super(fileName);
    }

    /** Every command of the drivers Verdict uses arrives here (OP_MSG); its first key names it. */
    @Override
    public Document handleMessage(MongoMessage message) {
        try {
            return super.handleMessage(message);
        } finally {
            // Also when the command failed part-way (an unordered insert with a
            // duplicate key): what it did write is on disk before the error is sent.
            if (isWrite(message.getDocument())) {
                persist();
            }
        }
    }

    private static boolean isWrite(Document command) {
        for (String name : command.keySet()) {
            return WRITES.contains(name.toLowerCase(Locale.ROOT));
        }
        return false;
    }

    private void persist() {
        MVStore store = getMvStore();
        store.commit();
        store.sync();
    }
}
