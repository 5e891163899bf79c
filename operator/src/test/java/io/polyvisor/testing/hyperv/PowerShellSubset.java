package io.polyvisor.testing.hyperv;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The part of PowerShell that the Hyper-V driver's scripts use, interpreted: one statement per
 * line (a pipeline, {@code $var = pipeline}, a one-line {@code foreach}, or {@code $var = foreach}
 * collecting what the loop outputs), named parameters whose
 * values are literals, variables and their properties, or a hashtable of those ({@code @{A=1;
 * B=$p.x}}), Select-Object with plain and {@code @{n='X';e={"$($_.Y)"}}} properties, Where-Object's
 * {@code Property -eq|-ne|-lt|-gt value}, ConvertTo-Json, and the base64-JSON parameter line.
 * Everything else is refused with an error naming it, so a script the simulator cannot follow
 * fails a test instead of passing unread. Cmdlets other than those are the host's.
 */
final class PowerShellSubset {

  /** The host's cmdlets. */
  interface Cmdlets {
    List<Object> invoke(String name, Map<String, Object> parameters, List<Object> input);
  }

  /** What a script printed and the errors it wrote. */
  record Outcome(String stdout, List<ErrorView.ErrorRecord> errors) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern PARAMETER_LINE = Pattern.compile(
      "^\\$(\\w+) = \\[Text\\.Encoding\\]::UTF8\\.GetString\\(\\[Convert\\]::FromBase64String\\('([A-Za-z0-9+/=]*)'\\)\\) \\| ConvertFrom-Json$");
  private static final Pattern FOREACH = Pattern.compile("^foreach\\s*\\(\\s*\\$(\\w+)\\s+in\\s+(.+?)\\s*\\)\\s*\\{(.*)\\}$");
  private static final Pattern ASSIGNMENT = Pattern.compile("^\\$(\\w+)\\s*=\\s*(.+)$");
  private static final Pattern CALCULATED = Pattern.compile("^@\\{n(?:ame)?='([^']*)';\\s*e(?:xpression)?=\\{\"\\$\\(\\$_\\.(\\w+)\\)\"\\}\\}$");
  private static final Pattern HASHTABLE = Pattern.compile("^@\\{(.*)\\}$");
  private static final Pattern HASHTABLE_ENTRY = Pattern.compile("^(\\w+)\\s*=\\s*(\\S+)$");
  private static final Pattern VARIABLE = Pattern.compile("^\\$(\\w+)((?:\\.\\w+)*)$");
  private static final Pattern NUMBER = Pattern.compile("^-?\\d+$");
  private static final Pattern BARE_WORD = Pattern.compile("^[A-Za-z_][\\w.:\\\\]*$");
  private static final Pattern PARAMETER_NAME = Pattern.compile("^-([A-Za-z]\\w*)$");

  private final Cmdlets cmdlets;
  private final Map<String, Object> variables = new HashMap<>();
  private final StringBuilder stdout = new StringBuilder();
  private final List<ErrorView.ErrorRecord> errors = new ArrayList<>();

  private PowerShellSubset(Cmdlets cmdlets) {
    this.cmdlets = cmdlets;
    variables.put("erroractionpreference", "Continue");
  }

  static Outcome run(String script, Cmdlets cmdlets) {
    PowerShellSubset shell = new PowerShellSubset(cmdlets);
    String[] lines = script.split("\\R");
    for (int i = 0; i < lines.length; i++) {
      try {
        shell.statement(lines[i].strip());
      } catch (PsError e) {
        shell.errors.add(new ErrorView.ErrorRecord(e.getMessage(), i + 1, lines[i].strip()));
        if ("Stop".equalsIgnoreCase(String.valueOf(shell.variables.get("erroractionpreference")))) {
          break;
        }
      }
    }
    return new Outcome(shell.stdout.toString(), List.copyOf(shell.errors));
  }

  private void statement(String line) {
    if (line.isEmpty()) {
      return;
    }
    Matcher parameters = PARAMETER_LINE.matcher(line);
    if (parameters.matches()) {
      String json = new String(Base64.getDecoder().decode(parameters.group(2)), StandardCharsets.UTF_8);
      try {
        variables.put(parameters.group(1).toLowerCase(Locale.ROOT), fromJson(JSON.readTree(json)));
      } catch (JsonProcessingException e) {
        throw new PsError("ConvertFrom-Json : Invalid JSON primitive: " + e.getOriginalMessage());
      }
      return;
    }
    Matcher loop = FOREACH.matcher(line);
    if (loop.matches()) {
      for (Object item : enumerate(value(loop.group(2)))) {
        variables.put(loop.group(1).toLowerCase(Locale.ROOT), item);
        print(pipeline(loop.group(3).strip()));
      }
      return;
    }
    Matcher assignment = ASSIGNMENT.matcher(line);
    Matcher collected = assignment.matches() ? FOREACH.matcher(assignment.group(2).strip()) : null;
    if (collected != null && collected.matches()) {
      // $x = foreach (...) { ... }: what the loop's body outputs, collected (one item bare, none as $null).
      List<Object> result = new ArrayList<>();
      for (Object item : enumerate(value(collected.group(2)))) {
        variables.put(collected.group(1).toLowerCase(Locale.ROOT), item);
        result.addAll(pipeline(collected.group(3).strip()));
      }
      variables.put(assignment.group(1).toLowerCase(Locale.ROOT), result.isEmpty() ? null : result.size() == 1 ? result.get(0) : result);
      return;
    }
    if (assignment.matches()) {
      List<Object> result = pipeline(assignment.group(2).strip());
      String name = assignment.group(1).toLowerCase(Locale.ROOT);
      if (!name.equals("null")) {
        variables.put(name, result.size() == 1 ? result.get(0) : result);
      }
      return;
    }
    print(pipeline(line));
  }

  private void print(List<Object> output) {
    for (Object o : output) {
      stdout.append(o instanceof Boolean b ? (b ? "True" : "False") : String.valueOf(o)).append("\r\n");
    }
  }

  private List<Object> pipeline(String text) {
    List<Object> flowing = null;
    for (String element : split(text, '|')) {
      flowing = element(element.strip(), flowing);
    }
    return flowing;
  }

  private List<Object> element(String text, List<Object> input) {
    List<String> tokens = split(text, ' ');
    String head = tokens.get(0);
    if (input == null && (head.startsWith("$") || head.startsWith("'"))) {
      if (tokens.size() > 1) {
        throw new PsError("the simulator does not understand the expression: " + text);
      }
      return enumerate(value(head));
    }
    if (head.equalsIgnoreCase("Where-Object")) {
      return where(tokens, input == null ? List.of() : input);
    }
    Map<String, Object> parameters = new LinkedHashMap<>();
    int first = 1;
    if (head.equalsIgnoreCase("Select-Object") && tokens.size() > 1 && !PARAMETER_NAME.matcher(tokens.get(1)).matches()) {
      parameters.put("Property", value(tokens.get(1))); // Select-Object's first positional parameter
      first = 2;
    }
    for (int i = first; i < tokens.size(); i++) {
      Matcher name = PARAMETER_NAME.matcher(tokens.get(i));
      if (!name.matches()) {
        throw new PsError(head + " : A positional parameter cannot be found that accepts argument '" + tokens.get(i) + "'.");
      }
      boolean hasValue = i + 1 < tokens.size() && !PARAMETER_NAME.matcher(tokens.get(i + 1)).matches();
      parameters.put(name.group(1), hasValue ? value(tokens.get(++i)) : Boolean.TRUE);
    }
    List<Object> in = input == null ? List.of() : input;
    Object errorAction = remove(parameters, "ErrorAction");
    try {
      return switch (head.toLowerCase(Locale.ROOT)) {
        case "select-object" -> select(parameters, in);
        case "convertto-json" -> convertToJson(parameters, in);
        default -> new ArrayList<>(cmdlets.invoke(head, parameters, in));
      };
    } catch (PsError e) {
      if ("SilentlyContinue".equalsIgnoreCase(String.valueOf(errorAction))) {
        return new ArrayList<>();
      }
      throw e;
    }
  }

  private static Object remove(Map<String, Object> parameters, String name) {
    for (String key : List.copyOf(parameters.keySet())) {
      if (key.equalsIgnoreCase(name)) {
        return parameters.remove(key);
      }
    }
    return null;
  }

  /** The simplified syntax only: {@code Where-Object Property -eq value} (or -ne, -lt, -gt). */
  private List<Object> where(List<String> tokens, List<Object> input) {
    String operator = tokens.size() == 4 ? tokens.get(2).toLowerCase(Locale.ROOT) : "";
    if (!List.of("-eq", "-ne", "-lt", "-gt").contains(operator)) {
      throw new PsError("the simulator understands Where-Object <Property> -eq|-ne|-lt|-gt <value> only, not: "
          + String.join(" ", tokens));
    }
    String property = tokens.get(1);
    Object wanted = value(tokens.get(3));
    List<Object> out = new ArrayList<>();
    for (Object o : input) {
      Object actual = asObject(o).get(property);
      int order = actual instanceof Number a && wanted instanceof Number w
          ? Long.compare(a.longValue(), w.longValue())
          : String.valueOf(actual).compareToIgnoreCase(String.valueOf(wanted));
      boolean kept = switch (operator) {
        case "-eq" -> order == 0;
        case "-ne" -> order != 0;
        case "-lt" -> order < 0;
        default -> order > 0;
      };
      if (kept) {
        out.add(o);
      }
    }
    return out;
  }

  private List<Object> select(Map<String, Object> parameters, List<Object> input) {
    Object property = remove(parameters, "Property");
    if (property == null && parameters.size() == 0) {
      throw new PsError("Select-Object : name the properties");
    }
    if (!parameters.isEmpty()) {
      throw new PsError("Select-Object : A parameter cannot be found that matches parameter name '" + parameters.keySet().iterator().next() + "'.");
    }
    List<Object> properties = enumerate(property);
    List<Object> out = new ArrayList<>();
    for (Object o : input) {
      PsObject object = asObject(o);
      Map<String, Object> selected = new LinkedHashMap<>();
      for (Object p : properties) {
        if (p instanceof Calculated c) {
          Object v = object.get(c.from());
          selected.put(c.name(), v == null ? "" : String.valueOf(v));
        } else {
          selected.put(String.valueOf(p), object.get(String.valueOf(p)));
        }
      }
      out.add(new PsObject.Record(selected));
    }
    return out;
  }

  private List<Object> convertToJson(Map<String, Object> parameters, List<Object> input) {
    boolean compress = Boolean.TRUE.equals(remove(parameters, "Compress"));
    if (!parameters.isEmpty()) {
      throw new PsError("ConvertTo-Json : A parameter cannot be found that matches parameter name '" + parameters.keySet().iterator().next() + "'.");
    }
    if (input.isEmpty()) {
      return new ArrayList<>(); // Windows PowerShell prints nothing for no input
    }
    Object document = input.size() == 1 ? plain(input.get(0)) : input.stream().map(PowerShellSubset::plain).toList();
    try {
      var writer = compress ? JSON.writer() : JSON.writer().with(SerializationFeature.INDENT_OUTPUT);
      return new ArrayList<>(List.of(writer.writeValueAsString(document)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Object plain(Object o) {
    if (o instanceof PsObject.PsEnum e) {
      return e.number(); // no -EnumsAsStrings in Windows PowerShell 5.1
    }
    if (o instanceof PsObject p) {
      Map<String, Object> map = new LinkedHashMap<>();
      p.properties().forEach((k, v) -> map.put(k, plain(v)));
      return map;
    }
    if (o instanceof List<?> list) {
      return list.stream().map(PowerShellSubset::plain).toList();
    }
    return o;
  }

  private static PsObject asObject(Object o) {
    if (o instanceof PsObject p) {
      return p;
    }
    throw new PsError("Select-Object : the simulator selects properties of objects only, not of " + o);
  }

  private record Calculated(String name, String from) {}

  private Object value(String token) {
    List<String> items = split(token, ',');
    if (items.size() > 1) {
      List<Object> list = new ArrayList<>();
      for (String item : items) {
        list.add(value(item.strip()));
      }
      return list;
    }
    if (token.length() >= 2 && token.startsWith("'") && token.endsWith("'")) {
      return token.substring(1, token.length() - 1).replace("''", "'");
    }
    switch (token.toLowerCase(Locale.ROOT)) {
      case "$true":
        return Boolean.TRUE;
      case "$false":
        return Boolean.FALSE;
      case "$null":
        return null;
      default:
        break;
    }
    Matcher variable = VARIABLE.matcher(token);
    if (variable.matches()) {
      String name = variable.group(1).toLowerCase(Locale.ROOT);
      if (!variables.containsKey(name)) {
        throw new PsError("The variable '$" + variable.group(1) + "' cannot be retrieved because it has not been set.");
      }
      Object v = variables.get(name);
      for (String property : variable.group(2).isEmpty() ? new String[0] : variable.group(2).substring(1).split("\\.")) {
        v = v instanceof PsObject p ? p.get(property) : null;
      }
      return v;
    }
    if (NUMBER.matcher(token).matches()) {
      return Long.parseLong(token);
    }
    Matcher calculated = CALCULATED.matcher(token);
    if (calculated.matches()) {
      return new Calculated(calculated.group(1), calculated.group(2));
    }
    Matcher hashtable = HASHTABLE.matcher(token);
    if (hashtable.matches()) {
      Map<String, Object> entries = new LinkedHashMap<>();
      for (String entry : split(hashtable.group(1), ';')) {
        Matcher e = HASHTABLE_ENTRY.matcher(entry.strip());
        if (!e.matches()) {
          throw new PsError("the simulator does not understand the hashtable entry: " + entry);
        }
        entries.put(e.group(1), value(e.group(2)));
      }
      return new PsObject.Record(entries);
    }
    if (BARE_WORD.matcher(token).matches()) {
      return token;
    }
    throw new PsError("the simulator does not understand the value: " + token);
  }

  private static List<Object> enumerate(Object value) {
    if (value == null) {
      return new ArrayList<>();
    }
    if (value instanceof List<?> list) {
      return new ArrayList<>(list);
    }
    List<Object> one = new ArrayList<>();
    one.add(value);
    return one;
  }

  private static Object fromJson(JsonNode node) {
    if (node.isObject()) {
      Map<String, Object> map = new LinkedHashMap<>();
      node.fields().forEachRemaining(e -> map.put(e.getKey(), fromJson(e.getValue())));
      return new PsObject.Record(map);
    }
    if (node.isArray()) {
      List<Object> list = new ArrayList<>();
      node.forEach(n -> list.add(fromJson(n)));
      return list;
    }
    if (node.isBoolean()) {
      return node.booleanValue();
    }
    if (node.isIntegralNumber()) {
      return node.longValue();
    }
    if (node.isNumber()) {
      return node.doubleValue();
    }
    return node.isNull() ? null : node.asText();
  }

  /** Splits at a separator outside quotes, braces and parentheses; blanks collapse for ' '. */
  static List<String> split(String text, char separator) {
    List<String> parts = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    int depth = 0;
    char quote = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (quote != 0) {
        current.append(c);
        if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '{' || c == '(') {
        depth++;
      } else if (c == '}' || c == ')') {
        depth--;
      }
      boolean split = depth == 0 && (separator == ' ' ? Character.isWhitespace(c) : c == separator);
      if (split) {
        if (separator != ' ' || current.length() > 0) {
          parts.add(current.toString());
        }
        current.setLength(0);
      } else {
        current.append(c);
      }
    }
    if (current.length() > 0 || separator != ' ') {
      parts.add(current.toString());
    }
    return parts;
  }
}
