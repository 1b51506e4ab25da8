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

QUESTIONS = SQL + PYTHON
