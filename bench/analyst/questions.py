"""Questions with gold answers over the shipped datasets, written from the
data's documentation (the Chinook schema; music21's corpus metadata). The gold
answer of each is the result of its gold SQL on the same data; a generated
answer matches when its table holds the gold's columns (in any order, extra
columns allowed) with the same rows (order ignored, numbers to 2 decimals)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Q:
    question: str
    gold: str
    language: str  # sql | python
    dataset: str = "chinook"
    level: str = "easy"  # easy: one table; medium: a join or a grouping; hard: several joins, subqueries, dates, windows


SQL = [
    Q("How many artists are there?", "select count(*) from artist", "sql"),
    Q("How many tracks are there?", "select count(*) from track", "sql"),
    Q("How many customers are there?", "select count(*) from customer", "sql"),
    Q("How many invoices are there?", "select count(*) from invoice", "sql"),
    Q("What is the total of all invoices?", "select sum(total) from invoice", "sql"),
    Q("What is the average invoice total?", "select avg(total) from invoice", "sql"),
    Q(
        "How many tracks are in each genre?",
        "select g.name, count(*) from track t join genre g on g.genre_id = t.genre_id group by g.name",
        "sql",
    ),
    Q(
        "How many customers are there in each country?",
        "select country, count(*) from customer group by country",
        "sql",
    ),
    Q(
        "What is the total invoice amount per billing country?",
        "select billing_country, sum(total) from invoice group by billing_country",
        "sql",
    ),
    Q(
        "How many albums does each artist have? List the 5 artists with the most albums.",
        "select a.name, count(*) from album al join artist a on a.artist_id = al.artist_id group by a.name order by 2 desc limit 5",
        "sql",
    ),
    Q(
        "Which genre has the most tracks?",
        "select g.name from track t join genre g on g.genre_id = t.genre_id group by g.name order by count(*) desc limit 1",
        "sql",
    ),
    Q(
        "Which is the longest track? Give its name.",
        "select name from track order by milliseconds desc limit 1",
        "sql",
    ),
    Q(
        "How many tracks does each media type have?",
        "select m.name, count(*) from track t join media_type m on m.media_type_id = t.media_type_id group by m.name",
        "sql",
    ),
    Q(
        "List the titles of the albums by AC/DC.",
        "select al.title from album al join artist a on a.artist_id = al.artist_id where a.name = 'AC/DC'",
        "sql",
    ),
    Q(
        "Which employee has the job title General Manager? Give first and last name.",
        "select first_name, last_name from employee where title = 'General Manager'",
        "sql",
    ),
    Q(
        "How many customers does each support rep (employee) look after? Show the employee's last name and the count.",
        "select e.last_name, count(*) from customer c join employee e on e.employee_id = c.support_rep_id group by e.last_name",
        "sql",
    ),
    Q(
        "How many invoices were issued in each year?",
        "select year(invoice_date), count(*) from invoice group by 1",
        "sql",
    ),
    Q(
        "Which 3 customers spent the most in total? Show first name, last name and the total.",
        "select c.first_name, c.last_name, sum(i.total) from invoice i join customer c on c.customer_id = i.customer_id group by c.customer_id, c.first_name, c.last_name order by 3 desc limit 3",
        "sql",
    ),
    Q(
        "How many tracks are on each playlist? Show playlist name and count.",
        "select p.name, count(*) from playlist_track pt join playlist p on p.playlist_id = pt.playlist_id group by p.playlist_id, p.name",
        "sql",
    ),
    Q("What is the average track length in seconds?", "select avg(milliseconds) / 1000.0 from track", "sql"),
]

PYTHON = [
    Q("How many works are in the score corpus?", "select count(*) from score", "python", "music"),
    Q(
        "How many works are in each collection of the score corpus?",
        "select collection, count(*) from score group by collection",
        "python",
        "music",
    ),
    Q(
        "How many works by J.S. Bach are in the score corpus?",
        "select count(*) from score where composer = 'J.S. Bach'",
        "python",
        "music",
    ),
    Q(
        "What is the most common time signature among the scores?",
        "select time_signature from score group by 1 order by count(*) desc limit 1",
        "python",
        "music",
    ),
    Q("What is the average number of notes per score?", "select avg(notes) from score", "python", "music"),
    Q(
        "What is the median pitch range in semitones of the scores?",
        "select median(range_semitones) from score",
        "python",
        "music",
    ),
    Q(
        "What is the highest MIDI pitch in any score?",
        "select max(highest_midi) from score",
        "python",
        "music",
    ),
    Q("What is the lowest MIDI pitch in any score?", "select min(lowest_midi) from score", "python", "music"),
    Q(
        "How many scores have exactly one part?",
        "select count(*) from score where parts = 1",
        "python",
        "music",
    ),
    Q(
        "What is the average length in quarter notes of the Palestrina works (collection palestrina)?",
        "select avg(quarter_length) from score where collection = 'palestrina'",
        "python",
        "music",
    ),
    Q(
        "Which composer has the most works in the score corpus (ignoring unknown composers)?",
        "select composer from score where composer is not null group by 1 order by count(*) desc limit 1",
        "python",
        "music",
    ),
    Q(
        "For each collection, what is the average pitch range in semitones?",
        "select collection, avg(range_semitones) from score group by collection",
        "python",
        "music",
    ),
    Q(
        "How many scores are in 3/4 time?",
        "select count(*) from score where time_signature = '3/4'",
        "python",
        "music",
    ),
    Q(
        "How many scores have a key signature with flats (key_sharps below 0)?",
        "select count(*) from score where key_sharps < 0",
        "python",
        "music",
    ),
    Q("What is the maximum number of parts of any score?", "select max(parts) from score", "python", "music"),
    Q(
        "Plot a histogram of track lengths in minutes and give the mean length in minutes.",
        "select avg(milliseconds) / 60000.0 from track",
        "python",
    ),
    Q(
        "Plot the number of tracks per genre as a bar chart.",
        "select g.name, count(*) from track t join genre g on g.genre_id = t.genre_id group by g.name",
        "python",
    ),
    Q(
        "Plot the total sales per year as a line chart.",
        "select year(invoice_date), sum(total) from invoice group by 1",
        "python",
    ),
    Q(
        "What is the correlation between track length (milliseconds) and file size (bytes)?",
        "select corr(milliseconds, bytes) from track",
        "python",
    ),
    Q(
        "What is the standard deviation of invoice totals?",
        "select stddev_samp(total) from invoice",
        "python",
    ),
]


def _m(question: str, gold: str, level: str = "easy") -> Q:
    return Q(question, gold, "sql", "music", level)


def _h(question: str, gold: str, level: str = "hard") -> Q:
    return Q(question, gold, "sql", "chinook", level)


# SQL over the score corpus (music21's metadata: collection, composer, key and
# time signature, tempo, parts, notes, length, pitch range)
SCORES = [
    _m(
        "How many scores are in the Essen folksong collection (essenFolksong)?",
        "select count(*) from score where collection = 'essenFolksong'",
    ),
    _m(
        "How many different composers are named in the score corpus?",
        "select count(distinct composer) from score",
    ),
    _m(
        "Which 5 collections have the most scores? Show the collection and its count.",
        "select collection, count(*) from score group by 1 order by 2 desc limit 5",
        "medium",
    ),
    _m(
        "What is the average tempo in bpm of the scores that state a tempo?",
        "select avg(tempo_bpm) from score where tempo_bpm is not null",
    ),
    _m(
        "How many scores in the monteverdi collection are in 4/4 time?",
        "select count(*) from score where collection = 'monteverdi' and time_signature = '4/4'",
    ),
    _m(
        "Which time signature is most common in the oneills1850 collection?",
        "select time_signature from score where collection = 'oneills1850' group by 1 order by count(*) desc limit 1",
        "medium",
    ),
    _m(
        "For each composer with at least 20 scores, what is the average number of notes per score?",
        "select composer, avg(notes) from score where composer is not null group by 1 having count(*) >= 20",
        "hard",
    ),
    _m(
        "Which score has the most notes? Give its title and collection.",
        "select title, collection from score order by notes desc limit 1",
        "medium",
    ),
    _m("How many scores have more than 1000 notes?", "select count(*) from score where notes > 1000"),
    _m(
        "What is the widest pitch range in semitones among the scores of the bach collection?",
        "select max(range_semitones) from score where collection = 'bach'",
    ),
    _m(
        "How many scores are there for each number of parts?",
        "select parts, count(*) from score group by parts",
        "medium",
    ),
    _m(
        "Which collections have an average pitch range above 24 semitones?",
        "select collection from score group by collection having avg(range_semitones) > 24",
        "hard",
    ),
    _m(
        "What percentage of the scores are in 6/8 time?",
        "select 100.0 * sum(case when time_signature = '6/8' then 1 else 0 end) / count(*) from score",
        "medium",
    ),
    _m("How many scores have no composer recorded?", "select count(*) from score where composer is null"),
    _m(
        "What is the lowest MIDI pitch used in the beethoven collection?",
        "select min(lowest_midi) from score where collection = 'beethoven'",
    ),
    _m(
        "In the bach collection, how many scores are there for each key signature (key_sharps)?",
        "select key_sharps, count(*) from score where collection = 'bach' group by 1",
        "medium",
    ),
    _m(
        "Among composers with at least 5 scores, whose scores have the highest average number of parts?",
        "select composer from score where composer is not null group by 1 having count(*) >= 5 "
        "order by avg(parts) desc limit 1",
        "hard",
    ),
    _m(
        "What is the total length in quarter notes of all scores in the trecento collection?",
        "select sum(quarter_length) from score where collection = 'trecento'",
    ),
    _m(
        "For the collections with at least 100 scores, what is the average number of notes per score?",
        "select collection, avg(notes) from score group by 1 having count(*) >= 100",
        "hard",
    ),
    _m(
        "How many scores have a key signature with more than 2 sharps?",
        "select count(*) from score where key_sharps > 2",
    ),
]

# harder SQL over Chinook: several joins, subqueries, dates, windows
HARD = [
    _h(
        "Which 5 artists have the most tracks? Show the artist name and the number of tracks.",
        "select ar.name, count(*) from track t join album al on al.album_id = t.album_id "
        "join artist ar on ar.artist_id = al.artist_id group by ar.artist_id, ar.name order by 2 desc limit 5",
        "medium",
    ),
    _h(
        "What were the total sales in each month of 2010?",
        "select month(invoice_date), sum(total) from invoice where year(invoice_date) = 2010 group by 1",
    ),
    _h(
        "Which billing country has the highest total sales?",
        "select billing_country from invoice group by 1 order by sum(total) desc limit 1",
        "medium",
    ),
    _h(
        "Which support rep's customers spent the most in total? Give the employee's last name.",
        "select e.last_name from invoice i join customer c on c.customer_id = i.customer_id "
        "join employee e on e.employee_id = c.support_rep_id group by e.employee_id, e.last_name "
        "order by sum(i.total) desc limit 1",
    ),
    _h(
        "How many tracks have never been sold (appear on no invoice line)?",
        "select count(*) from track where track_id not in (select track_id from invoice_line)",
    ),
    _h(
        "Which 3 genres brought in the most money (unit price times quantity on invoice lines)? Show genre and amount.",
        "select g.name, sum(il.unit_price * il.quantity) from invoice_line il join track t on t.track_id = il.track_id "
        "join genre g on g.genre_id = t.genre_id group by g.name order by 2 desc limit 3",
    ),
    _h(
        "Which album has the most tracks? Give its title.",
        "select al.title from track t join album al on al.album_id = t.album_id "
        "group by al.album_id, al.title order by count(*) desc limit 1",
        "medium",
    ),
    _h(
        "How many customers have spent more than 45 in total?",
        "select count(*) from (select customer_id from invoice group by 1 having sum(total) > 45)",
    ),
    _h(
        "For each year, how many different customers bought something?",
        "select year(invoice_date), count(distinct customer_id) from invoice group by 1",
    ),
    _h(
        "Which employee has the most other employees reporting to them? Give the last name.",
        "select m.last_name from employee e join employee m on m.employee_id = e.reports_to "
        "group by m.employee_id, m.last_name order by count(*) desc limit 1",
    ),
    _h(
        "What is the average number of invoice lines per invoice?",
        "select avg(n) from (select count(*) as n from invoice_line group by invoice_id)",
    ),
    _h(
        "List the 5 longest tracks with the titles of their albums (track name and album title).",
        "select t.name, al.title from track t join album al on al.album_id = t.album_id "
        "order by t.milliseconds desc limit 5",
        "medium",
    ),
    _h(
        "For each billing country, what is the largest single invoice total?",
        "select billing_country, max(total) from invoice group by 1",
        "medium",
    ),
    _h(
        "What is the running total of sales by year (each year with the cumulative sum so far)?",
        "select y, sum(s) over (order by y) from (select year(invoice_date) as y, sum(total) as s "
        "from invoice group by 1)",
    ),
    _h(
        "How many invoices were issued in the first quarter (January to March) of 2009?",
        "select count(*) from invoice where invoice_date >= '2009-01-01' and invoice_date < '2009-04-01'",
        "medium",
    ),
    _h(
        "Which month of the year (1 to 12) has the highest total sales over all years?",
        "select month(invoice_date) from invoice group by 1 order by sum(total) desc limit 1",
    ),
    _h(
        "Which employee was hired first? Give first and last name.",
        "select first_name, last_name from employee order by hire_date limit 1",
        "medium",
    ),
    _h(
        "How many tracks of the Rock genre are longer than 5 minutes?",
        "select count(*) from track t join genre g on g.genre_id = t.genre_id "
        "where g.name = 'Rock' and t.milliseconds > 300000",
        "medium",
    ),
    _h(
        "What percentage of all tracks are in the 'MPEG audio file' media type?",
        "select 100.0 * sum(case when m.name = 'MPEG audio file' then 1 else 0 end) / count(*) "
        "from track t join media_type m on m.media_type_id = t.media_type_id",
    ),
    _h(
        "For each customer's country, how many invoices and what total? Show country, invoice count and total.",
        "select c.country, count(*), sum(i.total) from invoice i join customer c on c.customer_id = i.customer_id "
        "group by c.country",
        "medium",
    ),
]

QUESTIONS = SQL + SCORES + HARD + PYTHON
