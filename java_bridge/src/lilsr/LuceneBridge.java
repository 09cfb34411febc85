package lilsr;

import java.io.Closeable;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.MultiTerms;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.index.Term;
import org.apache.lucene.index.Terms;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.Sort;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.search.similarities.Similarity;
import org.apache.lucene.store.FSDirectory;

/**
 * One Lucene index opened once, searched a whole batch of queries per call, for lilsr-tools.
 *
 * <p>Why it exists: calling Anserini's SimpleImpactSearcher once per query through pyjnius spends most of
 * its time in Python-Java crossings and in loading a stored document per hit. Here the batch crosses once
 * (packed little-endian byte arrays), hits are Lucene doc numbers (mapped to external ids once, at open), and
 * each query's wall time is measured here, in nanoseconds, around query construction and the Lucene search.
 *
 * <p>Anserini classes (ImpactSimilarity, the English analyzer, the query generator, the tie-breaking sort) are
 * reached by reflection: the fatjar is compiled for Java 21 and the system javac 17 cannot read those class
 * files, while Lucene's own classes (Java 11) compile fine against it.
 */
public final class LuceneBridge implements Closeable {
  public static final String FIELD = "contents";  // Anserini's Constants.CONTENTS
  public static final String ID = "id";           // Anserini's Constants.ID

  private final DirectoryReader reader;
  private final IndexSearcher searcher;
  private final String[] ids;
  private final Sort tiesById;  // Anserini's SearchCollection.BREAK_SCORE_TIES_BY_DOCID
  // BM25 only: Anserini's analyzer and BagOfWordsQueryGenerator.buildQuery(String, Analyzer, String)
  private final Analyzer analyzer;
  private final Object generator;
  private final Method buildQuery;

  private LuceneBridge(String indexDir, Similarity similarity, Analyzer analyzer) throws Exception {
    this.reader = DirectoryReader.open(FSDirectory.open(Paths.get(indexDir)));
    this.searcher = new IndexSearcher(reader);
    this.searcher.setSimilarity(similarity);
    // learned sparse queries can exceed Lucene's default of 1024 clauses
    IndexSearcher.setMaxClauseCount(Math.max(IndexSearcher.getMaxClauseCount(), 1 << 16));
    this.tiesById = (Sort) Class.forName("io.anserini.search.SearchCollection")
        .getField("BREAK_SCORE_TIES_BY_DOCID").get(null);
    this.ids = readIds(reader);
    this.analyzer = analyzer;
    if (analyzer != null) {
      Class<?> cls = Class.forName("io.anserini.search.query.BagOfWordsQueryGenerator");
      this.generator = cls.getConstructor().newInstance();
      this.buildQuery = cls.getMethod("buildQuery", String.class, Analyzer.class, String.class);
    } else {
      this.generator = null;
      this.buildQuery = null;
    }
  }

  /** An impact index (Anserini -impact), scored with Anserini's ImpactSimilarity: score = sum(boost * freq). */
  public static LuceneBridge openImpact(String indexDir) throws Exception {
    Similarity similarity = (Similarity) Class.forName("io.anserini.search.similarity.ImpactSimilarity")
        .getConstructor().newInstance();
    return new LuceneBridge(indexDir, similarity, null);
  }

  /** A text index, scored with BM25 (Lucene's BM25Similarity, as Anserini's -bm25) and Anserini's analyzer. */
  public static LuceneBridge openBm25(String indexDir, float k1, float b, String stemmer) throws Exception {
    Analyzer analyzer = (Analyzer) Class.forName("io.anserini.analysis.DefaultEnglishAnalyzer")
        .getMethod("fromArguments", String.class, boolean.class, String.class)
        .invoke(null, stemmer, false, null);
    return new LuceneBridge(indexDir, new BM25Similarity(k1, b), analyzer);
  }

  private static String[] readIds(DirectoryReader reader) throws IOException {
    String[] ids = new String[reader.maxDoc()];
    StoredFields stored = reader.storedFields();
    Set<String> only = Set.of(ID);
    for (int doc = 0; doc < ids.length; doc++) {
      ids[doc] = stored.document(doc, only).get(ID);
    }
    return ids;
  }

  public int maxDoc() {
    return reader.maxDoc();
  }

  /** External document ids in Lucene doc-number order, joined by '\n' (one crossing for all of them). */
  public String joinedIds() {
    return String.join("\n", ids);
  }

  /**
   * Posting-list statistics of the "contents" field as JSON: documents, terms, postings (sum of document
   * frequencies), total term frequency, and document-frequency percentiles (numpy's linear interpolation).
   */
  public static String postingStats(String indexDir) throws IOException {
    try (DirectoryReader reader = DirectoryReader.open(FSDirectory.open(Paths.get(indexDir)))) {
      Terms terms = MultiTerms.getTerms(reader, FIELD);
      int[] df = new int[16];
      int count = 0;
      long sumTtf = 0;
      if (terms != null) {
        var it = terms.iterator();
        while (it.next() != null) {
          if (count == df.length) {
            df = java.util.Arrays.copyOf(df, count * 2);
          }
          df[count++] = it.docFreq();
          sumTtf += it.totalTermFreq();
        }
      }
      df = java.util.Arrays.copyOf(df, count);
      java.util.Arrays.sort(df);
      long postings = 0;
      for (int x : df) {
        postings += x;
      }
      StringBuilder json = new StringBuilder("{");
      json.append("\"docs\": ").append(reader.numDocs());
      json.append(", \"terms\": ").append(count);
      json.append(", \"postings\": ").append(postings);
      json.append(", \"total_term_freq\": ").append(sumTtf);
      if (count > 0) {
        json.append(", \"mean_length\": ").append((double) postings / count);
        String[] names = {"p50_length", "p90_length", "p99_length", "p99.9_length"};
        double[] ps = {50, 90, 99, 99.9};
        for (int i = 0; i < ps.length; i++) {
          double pos = ps[i] / 100.0 * (count - 1);
          int lo = (int) Math.floor(pos);
          int hi = Math.min(lo + 1, count - 1);
          double value = df[lo] + (pos - lo) * (df[hi] - df[lo]);
          json.append(", \"").append(names[i]).append("\": ").append(value);
        }
        json.append(", \"max_length\": ").append(df[count - 1]);
      }
      return json.append("}").toString();
    }
  }

  /** {@code java -cp fatjar:classes lilsr.LuceneBridge stats INDEX}: print {@link #postingStats}. */
  public static void main(String[] args) throws Exception {
    if (args.length != 2 || !args[0].equals("stats")) {
      System.err.println("usage: lilsr.LuceneBridge stats INDEX_DIR");
      System.exit(2);
    }
    System.out.println(postingStats(args[1]));
  }

  /**
   * Search weighted-term queries. {@code terms}: every query's terms joined by '\n'; {@code weights}: float32
   * little-endian, one per term; {@code offsets}: int32 little-endian, n+1 term offsets. Integer weights are
   * just whole floats (Pyserini's path converts its integers to floats in the same way).
   */
  public byte[] searchVectors(String terms, byte[] weights, byte[] offsets, int k, int threads, boolean byId)
      throws Exception {
    String[] tokens = terms.isEmpty() ? new String[0] : terms.split("\n", -1);
    float[] w = floats(weights);
    int[] off = ints(offsets);
    int n = off.length - 1;
    if (tokens.length != w.length || off[n] != w.length) {
      throw new IllegalArgumentException("terms, weights and offsets disagree: " + tokens.length + " terms, "
          + w.length + " weights, last offset " + off[n]);
    }
    return run(n, k, threads, byId, q -> {
      BooleanQuery.Builder builder = new BooleanQuery.Builder();
      for (int t = off[q]; t < off[q + 1]; t++) {
        builder.add(new BoostQuery(new TermQuery(new Term(FIELD, tokens[t])), w[t]), BooleanClause.Occur.SHOULD);
      }
      return builder.build();
    }, false);
  }

  /** Search raw query texts (joined by '\n') with BM25 the way Anserini's SearchCollection does. */
  public byte[] searchTexts(String texts, int count, int k, int threads, boolean adjustTies) throws Exception {
    if (buildQuery == null) {
      throw new IllegalStateException("searchTexts needs an index opened with openBm25");
    }
    String[] queries = count == 0 ? new String[0] : texts.split("\n", -1);
    if (queries.length != count) {
      throw new IllegalArgumentException(count + " queries announced, " + queries.length + " received");
    }
    return run(count, k, threads, true, q -> (Query) buildQuery.invoke(generator, FIELD, analyzer, queries[q]),
        adjustTies);
  }

  private interface QueryMaker {
    Query make(int q) throws Exception;
  }

  private byte[] run(int n, int k, int threads, boolean byId, QueryMaker maker, boolean adjustTies)
      throws Exception {
    int[][] docs = new int[n][];
    float[][] scores = new float[n][];
    long[] nanos = new long[n];
    if (threads <= 1) {
      for (int q = 0; q < n; q++) {
        one(q, k, byId, maker, adjustTies, docs, scores, nanos);
      }
    } else {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        List<Future<?>> futures = new ArrayList<>(n);
        for (int q = 0; q < n; q++) {
          final int query = q;
          futures.add(pool.submit(() -> {
            one(query, k, byId, maker, adjustTies, docs, scores, nanos);
            return null;
          }));
        }
        for (Future<?> future : futures) {
          future.get();
        }
      } finally {
        pool.shutdownNow();
      }
    }
    return pack(docs, scores, nanos);
  }

  private void one(int q, int k, boolean byId, QueryMaker maker, boolean adjustTies, int[][] docs,
                   float[][] scores, long[] nanos) throws Exception {
    long start = System.nanoTime();
    Query query = maker.make(q);
    TopDocs top = byId ? searcher.search(query, k, tiesById, true) : searcher.search(query, k);
    long elapsed = System.nanoTime() - start;
    ScoreDoc[] hits = top.scoreDocs;
    int[] d = new int[hits.length];
    float[] s = new float[hits.length];
    for (int i = 0; i < hits.length; i++) {
      d[i] = hits[i].doc;
      s[i] = hits[i].score;
    }
    if (adjustTies) {
      adjustTies(s);
    }
    docs[q] = d;
    scores[q] = s;
    nanos[q] = elapsed;
  }

  /**
   * Anserini's ScoreTiesAdjusterReranker, step for step: scores rounded to 4 decimals, and each run of
   * tied scores lowered by 1e-6 per position, so the docid order within ties survives any re-sort by score.
   */
  static void adjustTies(float[] scores) {
    int dup = 0;
    for (int i = 0; i < scores.length; i++) {
      scores[i] = (float) (Math.round(scores[i] * 10000.0) / 10000.0);
      if (i == 0 || scores[i - 1] - scores[i] > 0.0001f) {
        dup = 0;
      } else {
        dup++;
        scores[i] = scores[i] - 0.000001f * dup;
      }
    }
  }

  /** n, offsets[n+1], docs[total], scores[total] (float32), nanos[n] (int64); little-endian. */
  private static byte[] pack(int[][] docs, float[][] scores, long[] nanos) {
    int n = docs.length;
    int total = 0;
    for (int[] d : docs) {
      total += d.length;
    }
    ByteBuffer out = ByteBuffer.allocate(4 + 4 * (n + 1) + 8 * total + 8 * n).order(ByteOrder.LITTLE_ENDIAN);
    out.putInt(n);
    int offset = 0;
    out.putInt(0);
    for (int[] d : docs) {
      offset += d.length;
      out.putInt(offset);
    }
    for (int[] d : docs) {
      for (int x : d) {
        out.putInt(x);
      }
    }
    for (float[] s : scores) {
      for (float x : s) {
        out.putFloat(x);
      }
    }
    for (long x : nanos) {
      out.putLong(x);
    }
    return out.array();
  }

  private static float[] floats(byte[] bytes) {
    float[] out = new float[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  private static int[] ints(byte[] bytes) {
    int[] out = new int[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    return out;
  }

  @Override
  public void close() throws IOException {
    reader.close();
  }
}
