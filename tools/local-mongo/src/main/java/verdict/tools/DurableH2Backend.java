package verdict.tools;

import java.util.List;
import java.util.Locale;
import java.util.Set;

import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import org.h2.mvstore.MVStore;

/**
 * H2Backend, made durable before it acknowledges. H2Backend alone commits its
 * MVStore in the background about once a second, so a kill -9 lost what it had
 * acknowledged in the last second (28 audit records in one run). Here every command
 * that writes is committed to the store file before its answer goes back, so a
 * killed process loses nothing it acknowledged; a write that asks to be journaled
 * (writeConcern j: true or w: "majority", as the audit trail's) is also synced to
 * the disk first, as mongod would, so it survives the machine going down too. Its
 * unique indexes also serve a query that names one _id and more (IdLookupIndex).
 */
final class DurableH2Backend extends H2Backend {

    /** Commands that change data or indexes (compared lowercased). */
    private static final Set<String> WRITES = Set.of(
            "insert", "update", "delete", "findandmodify", "createindexes", "dropindexes",
            "drop", "dropdatabase", "create", "renamecollection");

    DurableH2Backend(String fileName) {
        super(fileName);
    }

    @Override
    protected MongoDatabase openOrCreateDatabase(String databaseName) {
        return new H2Database(databaseName, getMvStore(), getCursorRegistry()) {
            @Override
            protected Index<Object> openOrCreateUniqueIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
                return new IdLookupIndex<>(super.openOrCreateUniqueIndex(collectionName, indexName, keys, sparse), sparse);
            }
        };
    }

    /** Every command of the drivers Verdict uses arrives here (OP_MSG); its first key names it. */
    @Override
    public Document handleMessage(MongoMessage message) {
        try {
            return super.handleMessage(message);
        } finally {
            // Also when the command failed part-way (an unordered insert with a
            // duplicate key): what it did write is in the file before the error is sent.
            Document command = message.getDocument();
            if (isWrite(command)) {
                persist(journaled(command));
            }
        }
    }

    private static boolean isWrite(Document command) {
        for (String name : command.keySet()) {
            return WRITES.contains(name.toLowerCase(Locale.ROOT));
        }
        return false;
    }

    private static boolean journaled(Document command) {
        Object concern = command.get("writeConcern");
        if (!(concern instanceof Document writeConcern)) {
            return false;
        }
        return Boolean.TRUE.equals(writeConcern.get("j")) || "majority".equals(writeConcern.get("w"));
    }

    private void persist(boolean sync) {
        MVStore store = getMvStore();
        if (store.hasUnsavedChanges()) {
            store.commit(); // written to the file: a killed process loses nothing acknowledged
        }
        if (sync) {
            store.sync(); // and on the disk
        }
    }
}
