# Syntax and warnings of many Ruby files (recipes) and ERB templates, in one Ruby process.
#
# What `ruby -wc FILE` reports per file (and `erb -x -T - FILE | ruby -wc` per template),
# without a process start for each: every file is compiled with warnings on, as the main
# script is. Prints a JSON list of {"file", "error"}: a syntax error or the warnings of a file.
# ERB's generated code ends with a bare `_erbout`, which Ruby flags as "useless use of a
# variable": that warning is not the template's and is left out.
$VERBOSE = true
require "erb"
require "json"
require "stringio"
require "tempfile"

def compile(path)
  RubyVM::InstructionSequence.compile_file(path)
  nil
rescue SyntaxError => e
  e.message
end

problems = []
ARGV.each do |path|
  captured = StringIO.new
  compiled = path
  $stderr = captured
  begin
    if path.end_with?(".erb")
      Tempfile.create(["erb", ".rb"]) do |tmp|
        tmp.write(ERB.new(File.read(path), trim_mode: "-").src)
        tmp.flush
        compiled = tmp.path
        error = compile(tmp.path)
      end
    else
      error = compile(path)
    end
  ensure
    $stderr = STDERR
  end
  warnings = captured.string.lines.reject { |l| l.include?("useless use of a variable") }
  message = [error, *warnings].compact.join.gsub(compiled, path)
  problems << { "file" => path, "error" => message } unless message.empty?
end
puts JSON.generate(problems)
