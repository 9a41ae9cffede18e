package verdict.tools;

import java.util.List;
import java.util.Set;

import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.backend.memory.index.MemoryUniqueIndex;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;

/**
 * mongo-java-server's memory backend, whose _id index also serves a query that names
 * one _id and more, as MongoDB's does. mongo-java-server uses an index only for a query
 * on exactly its keys: {_id: x, total: {$lte: n}} (a conditional update, Verdict's
 * reservation) scanned the whole collection, holding its lock, and matched every
 * document; in a bench with 1,000 counters a third of the server's CPU went to those
 * scans. Here the index finds the one document with that _id and the whole query is
 * matched against it (the same answer: a document that does not have that _id cannot
 * match the query).
 */
final class IdLookupMemoryBackend extends MemoryBackend {

    @Override
    public MemoryDatabase openOrCreateDatabase(String databaseName) {
        return new MemoryDatabase(databaseName, getCursorRegistry()) {
            @Override
            protected Index<Integer> openOrCreateUniqueIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
                return new IdLookupIndex(indexName, keys, sparse);
            }
        };
    }

    /** A unique index that, on _id alone, also serves queries with an _id equal to one value and other conditions. */
    static final class IdLookupIndex extends MemoryUniqueIndex {

        private static final String ID = "_id";
        private static final Set<String> ID_ONLY = Set.of(ID);

        IdLookupIndex(String name, List<IndexKey> keys, boolean sparse) {
            super(name, keys, sparse);
        }

        @Override
        public synchronized boolean canHandle(Document query) {
            return super.canHandle(query) || idEquality(query) != null;
        }

        @Override
        public synchronized Iterable<Integer> getPositions(Document query) {
            if (super.canHandle(query)) {
                return super.getPositions(query);
            }
            Document byId = idEquality(query);
            if (byId == null) {
                throw new IllegalStateException("the _id index cannot serve " + query);
            }
            return super.getPositions(byId);
        }

        /**
         * {_id: value} when the query asks, beside other conditions, for documents whose
         * _id equals one string, number or ObjectId; null otherwise (an operator, a
         * regular expression, an embedded document...: left to the collection as before).
         */
        private Document idEquality(Document query) {
            if (query.size() < 2 || !keySet().equals(ID_ONLY)) {
                return null;
            }
            Object value = query.get(ID);
            if (value instanceof String || value instanceof Number || value instanceof ObjectId) {
                return new Document(ID, value);
            }
            return null;
        }
    }
}
